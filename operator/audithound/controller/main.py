"""``audithound run``: settings in, kopf running the handlers of ``controller.handlers``.

Fed by: the parsed command line. Feeds: kopf, with the runtime in its memo.
"""

from __future__ import annotations

import argparse

import kopf

from audithound.controller import handlers, logs
from audithound.controller import settings as settings_


def run(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM/SIGINT; returns the exit code."""
    settings = settings_.from_arguments(args)
    logs.configure(json_format=args.log_format == "json", verbose=args.verbose)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    kopf.run(
        clusterwide=True,
        # Each instance tails its own node's log: peering would freeze all but one.
        standalone=True,
        liveness_endpoint=settings.liveness or None,
        memo=kopf.Memo(runtime=handlers.Runtime(settings=settings)),
    )
    return 0
