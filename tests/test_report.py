"""`vaelab report`: a static HTML page read from a real tiny run and a hand-made sweep
directory (the sweep.json / summary.json / findings.json contract); every user string
escaped; bad input is one error line and leaves --out untouched."""

import base64
import json
import shutil
from html.parser import HTMLParser

import pytest
from conftest import run_cli
from PIL import Image

import vaelab
from vaelab.errors import VaelabError
from vaelab.report import write_report

VOID = {"meta", "img", "br", "hr", "input", "link", "source", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, attrs, parent, [], []

    @property
    def text(self):
        return " ".join("".join(self.parts).split())

    def find_all(self, tag=None, cls=None):
        for child in self.children:
            if (tag is None or child.tag == tag) and (
                    cls is None or cls in (child.attrs.get("class") or "").split()):
                yield child
            yield from child.find_all(tag, cls)


class Tree(HTMLParser):
    """The parsed page as a small tree; each node's text includes its descendants'."""

    def __init__(self, page):
        super().__init__()
        self.root = self.current = Node("#document", {})
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        node = self.current
        while node is not None:
            node.parts.append(data)
            node = node.parent


def parse(path):
    return Tree(path.read_text(encoding="utf-8")).root


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    """A real tiny run with the cheap metrics and an importance-sampled NLL (k = 10)."""
    from vaelab.cli import cli

    path = tmp_path_factory.mktemp("runs") / "tiny"
    vaelab.train(dataset="digits", epochs=1, subset=200, hidden="32", latent_dim=2,
                 batch_size=64, progress=False, out=path)
    cli.main(["eval", str(path), "--metrics", "elbo,iw-nll,collapse,probe", "--iw-samples",
              "10", "--quiet", "--device", "cpu", "--json"], standalone_mode=False)
    return path


def make_sweep(root, run, *, name="beta-sweep", claim=None):
    """A sweep directory by the contract: two finished seeds of beta=1 (copies of the real
    run), beta=4 with one run that has only its config (unfinished) and one that failed
    before its folder was made; summary, findings and a comparison figure."""
    sweep = root / name
    names = ["beta-1-s0", "beta-1-s1", "beta-4-s0", "beta-4-s1"]
    (sweep / "runs").mkdir(parents=True)
    for folder in names[:2]:
        shutil.copytree(run, sweep / "runs" / folder)
    (sweep / "runs" / names[2]).mkdir()
    shutil.copy(run / "config.json", sweep / "runs" / names[2] / "config.json")
    (sweep / "state").mkdir()
    (sweep / "state" / f"{names[3]}.json").write_text(json.dumps(
        {"status": "failed", "error": "RuntimeError: loss is NaN\nTraceback ..."}))
    config = json.loads((run / "config.json").read_text())["config"]
    points = [{"name": n, "group": f"beta={b}", "seed": s, "overrides": {"beta": b, "seed": s},
               "run": f"runs/{n}"} for n, (b, s) in zip(names, [(1.0, 0), (1.0, 1), (4.0, 0),
                                                                (4.0, 1)], strict=True)]
    (sweep / "sweep.json").write_text(json.dumps({
        "sweep_format": 1, "name": name, "title": "β sweep on digits", "base": config,
        "points": points, "backend": "local", "command": ["vaelab", "sweep", "beta.toml"],
        "created": "2026-01-01T00:00:00+0000",
        "recipe": {"name": "beta-sweep", "title": "β-VAE sweep", "question": "unused",
                   "source": "study 003"}}))
    elbo = json.loads((run / "metrics.json").read_text())["test"]["elbo"]
    (sweep / "summary.json").write_text(json.dumps({
        "metrics": [{"key": "test.elbo", "label": "test ELBO (nats)", "better": "higher",
                     "estimator": "single-sample ELBO (β = 1, 1 posterior sample per image)"},
                    {"key": "test.iw_nll.nll", "label": "IS-NLL (nats)", "better": "lower",
                     "estimator": "importance sampling, k = 10"}],
        "groups": [{"group": "beta=1", "overrides": {"beta": 1.0}, "n": 2,
                    "values": {"test.elbo": {"mean": elbo, "std": 0.125, "n": 2}}},
                   {"group": "beta=4", "overrides": {"beta": 4.0}, "n": 0, "values": {}}]}))
    (sweep / "findings.json").write_text(json.dumps({
        "question": "What does β do to the ELBO?",
        "findings": [
            {"claim": claim or "β > 1 lowers the test ELBO", "source": "study 003",
             "found": "beta=1 is best", "verdict": "agrees",
             "rule": "beta=1 higher than beta=4: agrees when the mean difference exceeds 2 "
                     "standard errors of the difference",
             "numbers": {"beta=1": {"mean": -44.0, "se": 0.07, "n": 3},
                         "beta=4": {"mean": -50.0, "se": 0.5, "n": 3},
                         "difference": {"mean": 6.0, "se": 0.505, "n": 3}}},
            {"claim": "β = 4 keeps every latent unit active", "source": "study 003",
             "found": "not measured", "verdict": "disagrees"},
            {"claim": "samples get sharper", "source": "study 003", "found": "unclear",
             "verdict": "inconclusive"}],
        "notes": ["one epoch only: a smoke test"]}))
    (sweep / "figures").mkdir()
    shutil.copy(run / "figures" / "curves.png", sweep / "figures" / "elbo-vs-beta.png")
    return sweep


def test_report_of_a_real_run(run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(monkeypatch, capsys, "report", run, "--out", out)
    assert code == 0, err
    assert "wrote" in stdout and out.is_file()
    page = out.read_text(encoding="utf-8")
    root = parse(out)
    assert str(run) in next(root.find_all("title")).text
    assert f"vaelab {vaelab.__version__}" in root.text
    assert '<meta name="generator" content="vaelab-report">' in page

    # The figures the run already has, embedded byte for byte; nothing drawn anew.
    images = list(root.find_all("img"))
    files = sorted(p.read_bytes() for p in (run / "figures").glob("*.png"))
    assert sorted(base64.b64decode(i.attrs["src"].split(",", 1)[1]) for i in images) == files
    assert all(i.attrs["src"].startswith("data:image/png;base64,") for i in images)

    # Config summary and metrics, each number with its estimator and k.
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    text = root.text
    for fragment in ("mlp 32, z = 2", "digits: 200 train", "4,420", "IS-NLL (k = 10)",
                     f"{metrics['elbo']:.2f}", f"{metrics['iw_nll']['nll']:.2f} ± ",
                     "importance sampling, k = 10 samples", "single-sample ELBO",
                     f"{metrics['probe']['accuracy']:.1%}", "1 of 1"):
        assert fragment in text, fragment
    table = next(root.find_all("table", "metrics"))
    assert len(list(table.find_all("tr"))) == 1 + 12  # header + ELBO 4, NLL 2, collapse 3, probe 3
    assert "Runs compared" not in text  # one run: nothing to compare

    # Nothing that the page could load: only in-page links and data: URIs.
    for node in root.find_all():
        for name in ("src", "href"):
            if name in node.attrs:
                assert node.attrs[name].startswith(("data:image/", "#")), node.attrs
    assert "http://" not in page and "https://" not in page


def test_report_of_a_sweep_with_unfinished_and_failed_runs(run, tmp_path):
    sweep = make_sweep(tmp_path, run)
    out = write_report([sweep], tmp_path / "sweep.html")
    root = parse(out)
    assert next(root.find_all("h1")).text == "β sweep on digits"
    text = root.text
    assert "What does β do to the ELBO?" in text and "one epoch only" in text
    badges = {b.text: b.parent.text for b in root.find_all("span", "badge")
              if b.attrs["class"].split()[1] in ("agrees", "disagrees", "inconclusive")}
    assert set(badges) == {"agrees", "disagrees", "inconclusive"}
    assert "β > 1 lowers the test ELBO" in badges["agrees"]
    # Beside the badge: the numbers behind the verdict, with their standard errors, and
    # the rule that decided it.
    assert ("beta=1 -44 ± 0.07 (n = 3); beta=4 -50 ± 0.5 (n = 3); difference 6 ± 0.505 "
            "(n = 3)") in badges["agrees"]
    assert "Rule: beta=1 higher than beta=4: agrees when" in badges["agrees"]

    # Aggregate table: mean ± std with the estimator and direction in the header.
    aggregate, runs_table = list(root.find_all("table", "sortable"))[:2]
    headers = [th.text for th in aggregate.find_all("th")]
    assert any("test ELBO (nats)" in h and "higher is better" in h and "single-sample ELBO"
               in h for h in headers), headers
    elbo = json.loads((run / "metrics.json").read_text())["test"]["elbo"]
    rows = [tr.text for tr in aggregate.find_all("tr")][1:]
    assert f"{elbo:.2f} ± 0.12" in rows[0] and "beta=4" in rows[1]

    # One row per point; unfinished, missing and failed points are shown, not errors.
    statuses = [tr.text for tr in runs_table.find_all("tr")][1:]
    assert len(statuses) == 4
    assert "finished" in statuses[0] and "not finished" not in statuses[0]
    assert "not finished: 0 of 1 epochs" in statuses[2]
    assert "failed: RuntimeError: loss is NaN" in statuses[3] and "Traceback" not in text
    assert len(list(root.find_all("section", "run"))) == 3  # the missing run has no section
    assert len(list(root.find_all("img"))) == 1 + 2 * 3  # comparison figure + two runs' three

    # A sweep and a run together: one comparison table across all five runs.
    both = parse(write_report([sweep, run], tmp_path / "both.html"))
    compared = next(node for node in both.find_all("section") if node.attrs.get("id") ==
                    "comparison")
    assert len(list(compared.find_all("tr"))) == 1 + 5
    assert str(run) in compared.text and "IS-NLL" in compared.text and "k = 10" in compared.text


XSS_NAME = "<script>alert(1)</script>"
XSS_CLAIM = "<img src=x onerror=alert(1)>"


def test_every_user_string_is_escaped(run, tmp_path):
    hostile = tmp_path / XSS_NAME  # a folder "<script>alert(1)<" holding "script>"
    shutil.copytree(run, hostile)
    info = json.loads((hostile / "config.json").read_text())
    info["command"] = ["vaelab", "train", '"><svg onload=alert(1)>']
    (hostile / "config.json").write_text(json.dumps(info))
    sweep = make_sweep(tmp_path, run, name="s", claim=XSS_CLAIM)
    spec = json.loads((sweep / "sweep.json").read_text())
    spec["title"] = spec["points"][0]["name"] = spec["points"][1]["group"] = XSS_NAME
    spec["points"][2]["overrides"] = {"<u>key</u>": "<u>value</u>"}
    (sweep / "sweep.json").write_text(json.dumps(spec))
    summary = json.loads((sweep / "summary.json").read_text())
    summary["metrics"][0]["label"] = "<b>bold</b>"
    summary["metrics"][1]["key"] = "<i>key</i>"
    (sweep / "summary.json").write_text(json.dumps(summary))
    out = write_report([hostile, sweep], tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "&lt;svg onload=alert(1)&gt;" in page
    root = parse(out)
    tags = {node.tag for node in root.find_all()}
    assert not tags & {"svg", "b", "i", "u", "iframe", "object"}
    scripts = list(root.find_all("script"))
    assert len(scripts) == 1 and "alert" not in scripts[0].text  # only the sorting script
    for node in root.find_all():
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
    for image in root.find_all("img"):
        assert image.attrs["src"].startswith("data:image/png;base64,")


def test_hand_edited_files_with_odd_values_still_render(run, tmp_path):
    odd = tmp_path / "odd"
    shutil.copytree(run, odd)
    info = json.loads((odd / "config.json").read_text())
    info["config"].update(network=5, train="x", data=None)
    info.update(data=[1], parameters=None, command="not a list")
    (odd / "config.json").write_text(json.dumps(info))
    (odd / "metrics.json").write_text(json.dumps({
        "test": {"elbo": "high", "iw_nll": [1], "collapse": {"active_units": None},
                 "per_class": {"0": 3}, "new_metric": {"score": 0.25, "estimator": "new"}},
        "val": 7}))
    (odd / "figures" / "broken.png").write_bytes(b"not a png")
    frames = [Image.new("L", (12, 8), color) for color in (0, 128, 255)]
    frames[0].save(odd / "figures" / "markov-chain.gif", save_all=True,
                   append_images=frames[1:], loop=0)
    root = parse(write_report([odd], tmp_path / "report.html"))
    text = root.text
    assert "skipped broken.png: not a valid PNG" in text
    images = {i.attrs["alt"]: i.attrs for i in root.find_all("img")}
    assert len(images) == 4 and images["markov-chain.gif"]["src"].startswith(
        "data:image/gif;base64,")
    assert (images["markov-chain.gif"]["width"], images["markov-chain.gif"]["height"]) == (
        "12", "8")
    assert "new_metric.score" in text and "0.25" in text and "high" in text


def _good_report(tmp_path, run):
    out = tmp_path / "report.html"
    write_report([run], out)
    return out, out.read_bytes()


@pytest.mark.parametrize("case, fragment", [
    ("missing", "does not exist"),
    ("empty", "neither a run directory"),
    ("corrupt-config", "config.json is not valid JSON"),
    ("corrupt-metrics", "metrics.json is not valid JSON"),
    ("corrupt-sweep", "sweep.json is not valid JSON"),
    ("corrupt-summary", "summary.json is not valid JSON"),
    ("corrupt-sweep-run", "metrics.json is not valid JSON"),
    ("other-format", "sweep format 7"),
])
def test_bad_input_is_one_error_line_and_leaves_out_alone(run, tmp_path, monkeypatch, capsys,
                                                          case, fragment):
    out, before = _good_report(tmp_path, run)
    target = tmp_path / "input"
    if case == "empty":
        target.mkdir()
    elif case in ("corrupt-config", "corrupt-metrics"):
        shutil.copytree(run, target)
        (target / f"{case.split('-')[1]}.json").write_text('{"test": {"elbo": -4')
    elif case != "missing":
        target = make_sweep(tmp_path, run)
        name = {"corrupt-sweep": "sweep.json", "corrupt-summary": "summary.json",
                "corrupt-sweep-run": "runs/beta-1-s1/metrics.json"}.get(case)
        if name:
            (target / name).write_text("{not json")
        else:
            spec = json.loads((target / "sweep.json").read_text())
            (target / "sweep.json").write_text(json.dumps({**spec, "sweep_format": 7}))
    code, stdout, err = run_cli(monkeypatch, capsys, "report", run, target, "--out", out)
    assert code == 2 and stdout == ""
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert fragment in err and str(target) in err
    assert out.read_bytes() == before  # the earlier report is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    fresh = tmp_path / "fresh.html"
    with pytest.raises(VaelabError):
        write_report([target], fresh)
    assert not fresh.exists()


def test_out_that_is_not_a_report_is_refused_unless_force(run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "notes.html"
    out.write_text("<p>my own notes</p>")
    code, _, err = run_cli(monkeypatch, capsys, "report", run, "--out", out)
    assert code == 2 and "not a vaelab report" in err and "--force" in err
    assert out.read_text() == "<p>my own notes</p>"
    code, _, err = run_cli(monkeypatch, capsys, "report", run, "--out", out, "--force")
    assert code == 0, err
    code, _, err = run_cli(monkeypatch, capsys, "report", run, "--out", out)
    assert code == 0, err  # an earlier report is replaced without --force
    for bad, fragment in ((tmp_path, "is a directory"), (tmp_path / "no" / "r.html",
                                                          "does not exist")):
        code, _, err = run_cli(monkeypatch, capsys, "report", run, "--out", bad)
        assert code == 2 and fragment in err, err
