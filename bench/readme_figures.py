"""The model figures of README.md, from a default run's DuckDB file.

Usage: bench/readme-figures.sh [--check | --write] [DB]

Each figure block of README.md lies between `<!-- figures:NAME -->` and
`<!-- /figures:NAME -->`; this script writes every block from the file
(the production model's row, its stored metrics, the evaluate stage's days,
a sweep of train.c refitted by the churn binary on a copy of the file, and
the monitoring loop's transcript: a default run in a temporary directory,
30 drifted days appended, the daily stages and a retrain, each command's
output cut to the top of its tables, with the model ids numbered because
they carry the time of training).
--check exits 1, with the difference, when README.md's blocks are not what
the file gives; --write rewrites them. The file must come from the default
config (`make run`): the script refuses another.
"""

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import duckdb

mode, db = "--check", None
for arg in sys.argv[1:]:
    if arg in ("--check", "--write"):
        mode = arg
    else:
        db = arg
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
db = db or os.path.join(root, "data", "churn.duckdb")
churn = os.environ.get("CHURN_BIN", "churn")
readme_path = os.path.join(root, "README.md")


def read(con):
    row = con.execute(
        """select model_id, test_from, test_to, n_test, pr_auc, roc_auc, pr_auc_low, pr_auc_high,
                  roc_auc_low, roc_auc_high, baseline_feature, baseline_pr_auc, lift_low, lift_high, ece,
                  mean_risk, pos_rate_test, pos_rate_train, brier, brier_constant, log_loss, log_loss_constant,
                  oracle_pr_auc, gap_closed, metrics_json::varchar, params_json::varchar
           from production_model"""
    ).fetchone()
    if row is None:
        sys.exit(f"readme-figures: {db} has no production model: run `make run` first")
    keys = ["model_id", "test_from", "test_to", "n_test", "pr_auc", "roc_auc", "pr_auc_low", "pr_auc_high",
            "roc_auc_low", "roc_auc_high", "baseline_feature", "baseline_pr_auc", "lift_low", "lift_high", "ece",
            "mean_risk", "pos_rate_test", "pos_rate_train", "brier", "brier_constant", "log_loss",
            "log_loss_constant", "oracle_pr_auc", "gap_closed", "metrics", "params"]
    m = dict(zip(keys, row))
    m["metrics"], m["params"] = json.loads(m["metrics"]), json.loads(m["params"])
    return m


con = duckdb.connect(db, read_only=True)
config = json.loads(
    con.execute("select config_json::varchar from simulation where mode = 'generate' order by generated_at limit 1")
    .fetchone()[0]
)
if (config["users"], config["days"], config["seed"]) != (2000, 240, 42):
    sys.exit(f"readme-figures: {db} is not the default run (users {config['users']}, days {config['days']}, "
             f"seed {config['seed']}): run `make run` in a fresh clone")
m = read(con)
test_users = con.execute(
    "select count(distinct user_id) from training_set where as_of_date between ? and ?", [m["test_from"], m["test_to"]]
).fetchone()[0]
days = con.execute(
    """select count(*), avg(positives), min(pr_auc), max(pr_auc) from performance_runs
       where kind = 'day' and model_id = ? and period = 'test'
         and evaluated_at = (select max(evaluated_at) from performance_runs where model_id = ?)""",
    [m["model_id"], m["model_id"]],
).fetchone()
window = con.execute(
    """select pr_auc from performance_runs where kind = 'window' and model_id = ?
       order by evaluated_at desc limit 1""",
    [m["model_id"]],
).fetchone()
drift = con.execute(
    """select r.feature, r.psi from drift_results r
       where r.run_id = (select run_id from drift_runs order by checked_at desc limit 1)
       order by r.psi desc limit 1"""
).fetchone()
con.close()


def c_sweep():
    """PR-AUC of the default fit refitted at other values of train.c, on a copy."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "sweep.duckdb")
        shutil.copy(db, copy)
        for c in ["0.01", "0.1", "1", "10"]:
            env = dict(os.environ, CHURN_TRAIN_C=c, CHURN_TRAIN_BOOTSTRAP="0")
            subprocess.run([churn, "--db", copy, "train"], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with duckdb.connect(copy, read_only=True) as sweep:
                pr = sweep.execute("select pr_auc from models order by created_at desc limit 1").fetchone()[0]
            out.append((c, pr))
    return out


DRIFTED_TOML = """[generate.drift]
start_day = 240
activity_multiplier = 0.4
watch_minutes_multiplier = 0.5
"""
LOOP = [
    (["run", "--drift-report", "base.json"], None),
    (["generate", "--append-days", "30"], "drifted.toml"),
    (["run", "--stage", "prepare", "--stage", "features", "--stage", "labels", "--stage", "training-set",
      "--stage", "score", "--stage", "drift"], None),
    (["run", "--stage", "retrain"], None),
]


def monitoring_loop():
    """The README's monitoring loop, run: (transcript lines, the retrain's line)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_")}
    ids, lines, retrain = {}, [], ""

    def named(text):
        for model_id in re.findall(r"logreg-\d{8}T\d{6}Z-[0-9a-f]{4}", text):
            ids.setdefault(model_id, f"<model {len(ids) + 1}>")
        return re.sub(r"logreg-\d{8}T\d{6}Z-[0-9a-f]{4}", lambda m: ids[m.group(0)], text)

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "drifted.toml"), "w") as f:
            f.write(DRIFTED_TOML)
        for args, config in LOOP:
            cmd = [churn, "--db", "churn.duckdb", "--log-format", "text"]
            shown = "churn " + " ".join(args)
            run_env = env
            if config:
                run_env = dict(env, CHURN_CONFIG=config)
                shown = f"CHURN_CONFIG={config} {shown}"
            out = subprocess.run(cmd + args, cwd=tmp, env=run_env, capture_output=True, text=True)
            if out.returncode not in (0, 2):
                sys.exit(f"readme-figures: `{shown}` failed (exit {out.returncode}):\n{out.stderr}")
            if lines:
                lines.append("")
            lines.append(f"$ {shown}   # exit {out.returncode}")
            # The log lines of the stages that report a result, without
            # their time stamps and key-value tails.
            for log in out.stderr.splitlines():
                m = re.match(r"\S+Z\s+(INFO (train|promote|generate): (?!starting|reading|fitting|scoring).*?)"
                             r"( stage=\".*)?$", log)
                if m:
                    lines.append(named(m.group(1)))
            table, kept = None, 0
            for row in out.stdout.splitlines():
                if row.startswith(("drift of ", "realised performance of ")):
                    table, kept = row, 0
                    lines.append(named(row))
                elif row.startswith("retrain: "):
                    retrain = named(row)
                    lines.append(retrain)
                elif table and row.strip() and not row.startswith("stage "):
                    if row.startswith("window"):
                        lines.append(row)
                    elif kept < 4:
                        lines.append(row)
                        kept += 1
                        if kept == 4:
                            lines.append("...")
                else:
                    table = None
    return lines, retrain


def n(v, digits=4):
    return f"{v:.{digits}f}"


def thousands(v):
    return f"{v:,}"


segments = {s["name"]: s for s in m["metrics"].get("segments", [])}
left = m["metrics"].get("already_left")
baseline_interval = (m["metrics"].get("intervals") or {}).get("baseline_pr_auc", {})
relative = (m["mean_risk"] - m["pos_rate_test"]) / m["pos_rate_test"] * 100
lines = [
    f"On the default data (2,000 users, 240 days; test window {m['test_from']} to {m['test_to']}, "
    f"{thousands(m['n_test'])} rows of {thousands(test_users)} users; "
    f"{'log1p terms beside the counts' if m['params'].get('log1p') else 'no log1p terms'}):",
    "",
    "| | model | 95% interval |",
    "|---|---:|---:|",
    f"| PR-AUC | {n(m['pr_auc'])} | {n(m['pr_auc_low'], 3)} – {n(m['pr_auc_high'], 3)} |",
    f"| ROC-AUC | {n(m['roc_auc'])} | {n(m['roc_auc_low'], 3)} – {n(m['roc_auc_high'], 3)} |",
    f"| best single input, `{m['baseline_feature'].split(' ')[0]}` ({m['baseline_feature'].split('(')[1].rstrip(')')}), "
    f"PR-AUC | {n(m['baseline_pr_auc'])} | {n(baseline_interval.get('low', float('nan')), 3)} – "
    f"{n(baseline_interval.get('high', float('nan')), 3)} |",
    f"| lift over it | **{n(m['pr_auc'] - m['baseline_pr_auc'])}** | {n(m['lift_low'], 3)} – {n(m['lift_high'], 3)} |",
    f"| best possible (the Bayes oracle), PR-AUC | {n(m['oracle_pr_auc'])} | |",
    f"| share of the gap from the best input to the best possible | **{m['gap_closed'] * 100:.0f}%** | |",
]
oracle = (m["metrics"].get("oracle") or {}).get("measured") or {}
for key, what in [("unseen_churn", "the oracle not told who has already left"),
                  ("from_events", "best possible from events alone (told neither who left nor engagement)")]:
    v = oracle.get(key)
    if v:
        share = (m["pr_auc"] - m["baseline_pr_auc"]) / (v["pr_auc"] - m["baseline_pr_auc"])
        lines.append(f"| {what}, PR-AUC; share of the gap to it | {n(v['pr_auc'])}; **{share * 100:.0f}%** | |")
lines += [
    f"| ECE | {n(m['ece'])} | |",
    f"| mean risk vs observed rate | {n(m['mean_risk'])} vs {n(m['pos_rate_test'])} ({relative:+.1f}%) | |",
    f"| Brier vs constant | {n(m['brier'])} vs {n(m['brier_constant'])} | |",
    f"| log loss vs constant | {n(m['log_loss'])} vs {n(m['log_loss_constant'])} | |",
    f"| base rate, train vs test | {n(m['pos_rate_train'])} vs {n(m['pos_rate_test'])} | |",
]
for name in ["active in the last 2 days", "quiet for 3 to 7 days"]:
    s = segments.get(name)
    if s:
        lines.append(f"| PR-AUC within the rows {name} | {n(s['pr_auc'], 3)} | "
                     f"{thousands(s['rows'])} rows, {s['base_rate'] * 100:.1f}% churn |")
if left:
    lines.append(f"| already left by the as-of day: top 10%, top 1%, positives | "
                 f"{left['top_decile'] * 100:.1f}%, {left['top_percent'] * 100:.1f}%, {left['positives'] * 100:.1f}% | |")
blocks = {"model": "\n".join(lines)}
sweep = c_sweep()
low, high = min(p for _, p in sweep), max(p for _, p in sweep)
blocks["c-sweep"] = (f"`train.c` from {sweep[0][0]} to {sweep[-1][0]} moves PR-AUC between {n(low, 3)} and "
                     f"{n(high, 3)} ({', '.join(f'{c}: {n(p)}' for c, p in sweep)}; kept at 1)")
if days and days[0] and window:
    blocks["daily"] = (f"one day of 2,000 users has about {days[1]:.0f} positives and its PR-AUC swings between "
                       f"{n(days[2], 2)} and {n(days[3], 2)} over the {days[0]} test days, while the 30-day pool "
                       f"is at {n(window[0])}, against the test PR-AUC {n(m['pr_auc'])}")

if drift:
    blocks["drift"] = f"largest PSI {drift[1]:.3f}, `{drift[0]}`"
loop, retrain = monitoring_loop()
blocks["loop"] = "```\n" + "\n".join(loop) + "\n```"
m_retrain = re.search(r"(promoted to production|kept out of production): PR-AUC ([\d.]+) vs production <model \d+> ([\d.]+) "
                      r"on (\S+ \.\. \S+): gain (-?[\d.]+)", retrain)
if m_retrain:
    outcome, new_pr, old_pr, days_range, gain = m_retrain.groups()
    blocks["retrain"] = (f"{'promotes' if outcome.startswith('promoted') else 'keeps out'} the candidate on a gain of "
                         f"{gain} ({new_pr} against {old_pr} on {days_range})")

readme = open(readme_path, encoding="utf-8").read()
written = readme
for name, text in blocks.items():
    pattern = re.compile(rf"(<!-- figures:{name} -->)(.*?)(<!-- /figures:{name} -->)", re.S)
    match = pattern.search(written)
    if not match:
        sys.exit(f"readme-figures: README.md has no <!-- figures:{name} --> block")
    inline = "\n" not in match.group(2)
    body = text if inline else f"\n{text}\n"
    written = written[: match.start(2)] + body + written[match.end(2):]
if mode == "--write":
    if written != readme:
        open(readme_path, "w", encoding="utf-8").write(written)
    print(f"readme-figures: README.md written from {db}")
elif written != readme:
    sys.stdout.writelines(difflib.unified_diff(readme.splitlines(True), written.splitlines(True),
                                               "README.md", f"README.md from {db}"))
    sys.exit("readme-figures: README.md's figures differ from the default run: "
             "rerun `bash bench/readme-figures.sh --write` and commit")
else:
    print(f"readme-figures: README.md's {len(blocks)} figure blocks match {db}")
