"""kiln.ComputeTarget: the clusters a workspace can run jobs on (docs/compute-targets.md)."""

import json
import os


class ComputeTarget:
    """A registered compute target; "local" (this machine) is built in and not registered.

    ComputeTarget(ws, "cluster") is the target registered under that name (LookupError when
    there is none). Pass it, or its name, as PyTorch(compute_target=...)."""

    def __init__(self, workspace, name):
        self.workspace = workspace
        self.name = name
        record = workspace._core.compute_target(name)
        self.type = record["type"]
        self.config = record["config"]

    @staticmethod
    def create(workspace, name, *, type="slurm", partition, max_nodes, runs_root,
               slurm_conf=None, network=None):
        """Register a Slurm cluster, as `kiln compute add NAME --type slurm ...` does;
        ValueError naming the setting that is wrong."""
        config = {"partition": partition, "max_nodes": max_nodes,
                  "runs_root": os.fspath(runs_root),
                  "slurm_conf": os.fspath(slurm_conf) if slurm_conf else "",
                  "network": network or ""}
        workspace._core.register_compute_target(name, type, json.dumps(config))
        return ComputeTarget(workspace, name)

    @staticmethod
    def list(workspace):
        """Every registered target, by name."""
        return [ComputeTarget(workspace, record["name"])
                for record in workspace._core.compute_targets()]

    def delete(self):
        """Forget the target (its runs keep their records and directories)."""
        self.workspace._core.remove_compute_target(self.name)

    def __repr__(self):
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"
