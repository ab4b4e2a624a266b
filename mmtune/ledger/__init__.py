"""The ledger (an Optuna storage), configurations and their evaluations, the leaderboard."""
