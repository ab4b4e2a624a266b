"""``python -m mmtune`` runs the command line."""

from mmtune.cli import main

raise SystemExit(main())
