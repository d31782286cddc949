"""How many rows make a block, and how many batches an epoch.

Large arrays are processed in blocks (fitting the scaler, copying X into a
backend tensor, the forward pass of predict) so that temporaries stay bounded
and cache-sized, whatever the number of rows.
"""


def rows_per_block(budget_bytes, row_bytes, minimum=1):
    """Rows of ``row_bytes`` each that fit in ``budget_bytes``; at least ``minimum``."""
    return max(minimum, budget_bytes // max(1, row_bytes))


# The unit in which large arrays are copied, streamed or reduced: fitting the
# scaler, filling the backend's copy of X, a chunk of batches. Big enough that
# per-block overhead vanishes, small enough to bound the temporaries.
STREAM_BLOCK_BYTES = 2**23


def batches_in_epoch(n_samples, batch_size):
    """Minibatches in one pass over ``n_samples`` rows (the last one may be short)."""
    return -(-n_samples // batch_size)
