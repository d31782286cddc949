"""
Serving a pipeline with ONNX Runtime
====================================

A fitted pipeline that holds an :class:`~sksnn.SNNClassifier` converts to
ONNX with skl2onnx, scaler, one-hot encoding, network and class labels
included, and ONNX Runtime then predicts without scikit-learn, sksnn or a
deep-learning backend (from Python here, from C++, C#, Java or JavaScript in
a service). ``import sksnn.onnx`` registers sksnn's converters with skl2onnx.
Needs ``pip install "sksnn[onnx]"``. Data: a synthetic table of two numeric
columns and one categorical column (a pandas DataFrame). Runs in a few
seconds.

What you should see: the ONNX model's labels equal the pipeline's on every
held-out row, its probabilities within ~1e-7 of ``predict_proba`` (the graph
computes in float32, the input's type), and the file's size in kB.
"""

import os
import tempfile

import numpy as np
import onnxruntime as ort
import pandas as pd
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import sksnn.onnx  # noqa: F401  (registers SNNClassifier and SNNRegressor with skl2onnx)
from sksnn import SNNClassifier

rng = np.random.RandomState(0)
frame = pd.DataFrame(
    {
        "age": rng.uniform(18, 80, 2000).astype(np.float32),
        "income": rng.lognormal(10, 0.8, 2000).astype(np.float32),
        "plan": rng.choice(["basic", "plus", "pro"], 2000),
    }
)
churn = (frame["age"] / 80 + (frame["plan"] == "basic") * 0.6 + rng.normal(0, 0.3, 2000)) > 0.9
y = np.where(churn, "leaves", "stays")
X_train, X_test, y_train, y_test = train_test_split(frame, y, random_state=0)

pipe = Pipeline(
    [
        ("columns", ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough")),
        ("snn", SNNClassifier(hidden_layer_sizes=(32, 32), random_state=0)),
    ]
).fit(X_train, y_train)
print(f"pipeline accuracy on held-out rows: {pipe.score(X_test, y_test):.3f}")

# One ONNX input per DataFrame column; zipmap=False gives the probabilities as
# a matrix (the default is a list of {label: probability} dicts, as for MLPClassifier).
onx = to_onnx(pipe, X_train[:1], options={id(pipe.named_steps["snn"]): {"zipmap": False}})
path = os.path.join(tempfile.mkdtemp(), "churn.onnx")
with open(path, "wb") as file:
    file.write(onx.SerializeToString())
print(f"saved {path}: {os.path.getsize(path) / 1e3:.0f} kB")

# What a service does: ONNX Runtime and NumPy only.
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
feeds = {column: X_test[column].to_numpy().reshape(-1, 1) for column in X_test.columns}
labels, probabilities = session.run(None, feeds)
print("labels equal to pipe.predict:", bool((labels == pipe.predict(X_test)).all()))
gap = np.abs(probabilities - pipe.predict_proba(X_test)).max()
print(f"largest probability gap to pipe.predict_proba: {gap:.1e}")
print("first rows:", [(str(label), round(float(p), 3)) for label, p in zip(labels[:3], probabilities[:3, 0])])
