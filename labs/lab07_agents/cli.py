"""Run one agent task from the command line, or resume a run after its process was killed.

    python -m labs.lab07_agents.cli run --task book-13 --pattern react
    python -m labs.lab07_agents.cli run --task book-13 --tool-latency-ms 300 &   # kill -9 it mid-run, then:
    python -m labs.lab07_agents.cli resume --run <id>

State lives under --data (default: DATA_DIR/lab07-cli): world.db (the travel world) and runs.db
(the checkpoints). The run id is printed first, so a supervisor (or a test) can kill the process
and resume the same run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from labs.lab07_agents.checkpoint import RUNS_SCHEMA
from labs.lab07_agents.guards import Budget
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.patterns import PATTERNS
from labs.lab07_agents.runtime import Runtime
from labs.lab07_agents.suite import agent_model, judge, task_by_id
from labs.lab07_agents.tools import ToolBox, ToolFaults
from labs.lab07_agents.world import World
from shared.config import get_settings
from shared.llm import Model
from shared.store import Store


def runtime(data: Path, latency_ms: float) -> Runtime:
    world = World(data / "world.db")
    return Runtime(Store(data / "runs.db", migrations=[RUNS_SCHEMA], url=get_settings().database_url), ToolBox(world, ToolFaults(latency_ms=latency_ms)),
                   defenses=Defenses.all())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "resume"])
    parser.add_argument("--task", default="book-13")
    parser.add_argument("--pattern", default="tool_loop", choices=list(PATTERNS))
    parser.add_argument("--run", help="the run id to resume")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tool-latency-ms", type=float, default=0.0)
    parser.add_argument("--deadline-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    data = args.data or get_settings().lab_dir("lab07-cli")
    rt = runtime(data, args.tool_latency_ms)
    if args.command == "run":
        task = task_by_id(args.task)
        if task is None:
            parser.error(f"no task {args.task!r}")
        model = agent_model(Model.from_settings(), args.pattern)
        st = rt.create(task, args.pattern, model, Budget(max_wall_s=args.deadline_s), args.deadline_s,
                       auto_approve=True)
        print(json.dumps({"run_id": st.id}), flush=True)
        run_id = st.id
    else:
        if not args.run or rt.load(args.run) is None:
            parser.error("resume needs --run with an existing run id")
        run_id = args.run
    st = rt.run(run_id)
    for step in st.trajectory:
        what = step.get("tool") or step["kind"]
        print(f"step {step['step']:>2} {what:<15} {json.dumps(step.get('args') or step.get('thought', ''))[:90]}")
    verdict = judge(rt.toolbox.world, st.task, st.status)
    print(json.dumps({"run_id": st.id, "status": st.status, "reason": st.reason, "answer": st.answer,
                      "success": verdict["success"], "violations": verdict["violations"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
