"""The README's Python example runs as written (on the bundled digits, for one epoch)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"From Python or a notebook:\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "the README's Python example moved; update this test"
    code = block.group(1)
    # Only the data set, the epochs and the folder change: every call is the README's.
    small = code.replace('dataset="mnist", epochs=5', 'dataset="digits", epochs=1')
    assert small != code, "the README's example no longer trains MNIST for 5 epochs"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(small, str(README), "exec"), namespace)
    run, q = namespace["run"], namespace["q"]
    assert q.mean.shape == (8, 2)
    assert run.path == Path("runs/z2") and (tmp_path / "runs/z2/best.safetensors").is_file()
