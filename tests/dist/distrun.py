"""Shared pieces of the multi-rank end-to-end tests (ranks_agree.py, rank_dies.py, resume_after_kill.py):
the common command line, the shared-folder substitution, the run config, and masks.h5 / checkpoint
readers that compare contents (never a program's own earlier output alone)."""
import argparse, os, shutil

def parser(doc):
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--mpirun-flags", default="--allow-run-as-root --oversubscribe")
    ap.add_argument("--model", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", default="")
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", default="", help="replaces @SHARED@ in paths (default: $STRUPRUNE_SHARED_DIR)")
    return ap

def resolve(a, need_h5py=False):
    """Substitutes @SHARED@; returns why the test must skip (a missing input, or h5py / numpy when
    needed), else None after making a fresh --work."""
    if need_h5py:
        try:
            import h5py, numpy  # noqa: F401
        except ImportError:
            return "h5py/numpy not installed"
    shared = os.environ.get("STRUPRUNE_SHARED_DIR") or a.shared
    for k in ("model", "calib", "eval"):
        v = getattr(a, k).replace("@SHARED@", shared)
        setattr(a, k, os.path.abspath(v) if v else v)  # the config resolves relative paths from its folder
    for p in (a.model, a.calib, a.eval):
        if p and not os.path.exists(p):
            return f"{p} not found"
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    return None

def no_gpu():
    """Why a GPU test must skip (no NVIDIA GPU visible), else None."""
    import shutil, subprocess
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1", "NoDevFiles"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    smi = shutil.which("nvidia-smi")
    if not smi:
        return "no GPU (nvidia-smi not found)"
    r = subprocess.run([smi, "-L"], capture_output=True, text=True)
    return None if r.returncode == 0 and "GPU" in r.stdout else "no GPU visible (nvidia-smi -L)"

def one_gpu():
    """Shows the ranks of the jobs started from here only the first visible GPU (the tests of ranks
    sharing a GPU must share it also on a machine with several)."""
    vis = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = vis.split(",")[0] if vis else "0"

def mpirun(a, n, *args):
    return [a.mpirun, *a.mpirun_flags.split(), "-np", str(n), a.bin, *args]

def write_config(path, a, out, calibration, eval_section=None, logging=""):
    """A CPU fp32 structprune config at 30% writing a compact checkpoint to `out`."""
    with open(path, "w") as f:
        f.write(f"""model: {{path: {a.model}}}
calibration: {{path: {a.calib}, format: text, {calibration}, seed: 0}}
prune: {{method: structprune, sparsity: 0.3}}
runtime: {{device: cpu, precision: fp32, threads: 1}}
output: {{dir: {out}, checkpoint: compact}}
eval: {eval_section or "{datasets: [], before: false}"}
""" + (f"logging: {logging}\n" if logging else ""))

def masks_datasets(path):
    """Every dataset of an HDF5 file by name (numpy arrays)."""
    import h5py
    d = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: d.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return d

def masks_attributes(path):
    """Every attribute of an HDF5 file, keyed by (object, attribute)."""
    import h5py
    d = {}
    with h5py.File(path, "r") as f:
        def take(name, obj):
            for k, v in obj.attrs.items():
                d[(name, k)] = v
        take("/", f)
        f.visititems(take)
    return d

def differing_datasets(a, b):
    """Names whose arrays differ in shape or in any bit (or exist in one only)."""
    names = set(a) | set(b)
    return sorted(k for k in names if k not in a or k not in b or a[k].shape != b[k].shape
                  or a[k].tobytes() != b[k].tobytes())
