"""How many rows of an array make a block of a given size in bytes.

Large arrays are processed in blocks (fitting the scaler, copying X into a
backend tensor, the forward pass of predict) so that temporaries stay bounded
and cache-sized, whatever the number of rows.
"""


def rows_per_block(budget_bytes, row_bytes, minimum=1):
    """Rows of ``row_bytes`` each that fit in ``budget_bytes``; at least ``minimum``."""
    return max(minimum, budget_bytes // max(1, row_bytes))
