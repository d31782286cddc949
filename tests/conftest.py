import os

# Quiet TensorFlow's C++ start-up logs; must be set before the backend loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
