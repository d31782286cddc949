"""How many rows make a block, how many batches an epoch, and a subset of rows read block by block.

Large arrays are processed in blocks (fitting the scaler, the chunks of
batches, the forward pass of predict) so that temporaries stay bounded and
cache-sized, whatever the number of rows. A fit's training and validation
rows are a :class:`RowSubset` of X: X (an ``np.memmap`` included) is never
copied whole.
"""

import numpy as np


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


class RowSubset:
    """The rows ``rows`` of a 2-D array, gathered only block by block.

    Early stopping trains on some rows of X and scores the others: copying
    them (``X[train_rows]``) held a second X in memory (an ``np.memmap``
    read whole into anonymous memory). Indexing a RowSubset with a slice or
    an index array gathers just those rows: ``subset[i]`` is
    ``array[rows[i]]``.
    """

    def __init__(self, array, rows):
        self.array = array
        self.rows = np.asarray(rows)
        self.shape = (len(self.rows), array.shape[1])
        self.dtype = array.dtype
        self.ndim = 2

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        return self.array[self.rows[key]]
