"""mmtune: hyperparameter search for multimodal (picture + MFCC audio) scene classifiers.

The package is one small module per stage of the flow::

    DATA_DIR --check--> cache --> feed (tf.data or threads) --> model(params)
    search_spaces/*.yaml --> tuner backend --> ledger (Optuna storage)
    ledger --> leaderboard / report / refit --> model + submission

Importing :mod:`mmtune` never imports TensorFlow; only the verbs that train do.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
