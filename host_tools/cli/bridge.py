"""earshot bridge: the board as a Wyoming satellite for Home Assistant, consent enforced.

Only sessions whose consent allows everything a pipeline declares are forwarded, and only
chunks that verify against the board's key; refusals are logged. To see them on the household
page too, run `earshot dashboard --port P --wyoming ...` instead: one process, both jobs.
"""

from .household import (add_board_arguments, add_bridge_arguments, open_targets,
                        pipelines_from, ports_from, read_key_if)


def setup(p):
    add_board_arguments(p)
    add_bridge_arguments(p, required=True)


def run(args):
    from ..errors import EarshotError
    from ..hub import serve

    pipelines = pipelines_from(args)
    if not pipelines:
        raise EarshotError("say where Home Assistant connects: --wyoming tcp://127.0.0.1:10700 "
                           "(or --pipelines FILE)")
    key = read_key_if(args.key_file, "earshot bridge")
    ports = ports_from(args)
    if len(ports) != 1:
        raise EarshotError("earshot bridge serves one board: give one --port")
    with open_targets(ports) as opened:
        return serve.run(opened, key=key, pipelines=pipelines, allow=args.allow,
                         zeroconf=args.zeroconf, history=args.history, area=args.area,
                         test_sessions=args.forward_test_sessions)
