"""
A pandas DataFrame through a ColumnTransformer
==============================================

Mixed tabular data: numeric columns and a categorical one. A
``ColumnTransformer`` one-hot encodes the category and passes the numbers
through; :class:`~sksnn.SNNClassifier` standardizes what it receives itself, so
no scaler is needed in front of it. Feature names flow through the pipeline
(``get_feature_names_out``). Data: scikit-learn's bundled wine set as a
DataFrame, with a categorical "alcohol level" column made from one of its
columns. Runs in a few seconds.

What you should see: the DataFrame's column types (12 numbers, 1 category),
a 5-fold accuracy near 0.94, and the names of the 15 features the network
receives (3 one-hot columns for the category, then the 12 numbers). Why: the
SNN takes the transformer's output as any scikit-learn estimator does, and
standardizes it itself.
"""

import warnings

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from sksnn import SNNClassifier

warnings.filterwarnings("ignore", category=ConvergenceWarning)
frame, y = load_wine(return_X_y=True, as_frame=True)
frame["alcohol_level"] = pd.cut(frame.pop("alcohol"), bins=3, labels=["low", "mid", "high"]).astype(str)
print(frame.dtypes.value_counts().to_string(), "\n")

numeric = [c for c in frame.columns if c != "alcohol_level"]
model = Pipeline(
    [
        (
            "columns",
            ColumnTransformer(
                [
                    ("category", OneHotEncoder(handle_unknown="ignore"), ["alcohol_level"]),
                    ("numbers", "passthrough", numeric),
                ]
            ),
        ),
        ("snn", SNNClassifier(hidden_layer_sizes=(32, 32), max_iter=100, random_state=0)),
    ]
)
scores = cross_val_score(model, frame, y, cv=5)
print(f"5-fold accuracy: {scores.mean():.3f} +- {scores.std():.3f}")
model.fit(frame, y)
print("features the network sees:", list(model[:-1].get_feature_names_out()[:5]), "...")
print(f"n_features_in_ of the SNN: {model[-1].n_features_in_}")
