"""Rendering the leaderboard tables (`tables.Tables`) as Markdown (leaderboards/README.md) and as
one self-contained HTML page (leaderboards/index.html: inline CSS, click-to-sort headers, nothing
loaded from elsewhere). Both pages hold the same parts: how to submit, a summary per board, then
per task its ranked rows and, apart, the unranked ones.

Every string from a submission is untrusted: Markdown escapes table and link syntax, HTML goes
through `html.escape`. Output holds no timestamp, so rebuilding unchanged submissions changes nothing.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any
from urllib.parse import quote

from dexbench.leaderboards.ranking import MIN_RANKED_EPISODES
from dexbench.leaderboards.tables import Row, Summary, TableRow, Tables

POLICY_COLUMNS = ["Policy", "Env id", "Success [95 % CI]", "Episodes", "Training data", "Suite", "Verified"]
GENERATOR_COLUMNS = [
    "Generator",
    "Env id",
    "Generation success",
    "Demos / CPU-min",
    "Downstream policy",
    "Downstream success [95 % CI]",
    "Train demos",
    "Verified",
]
BOARDS = {"policy": ("Policies", POLICY_COLUMNS), "generator": ("Generators", GENERATOR_COLUMNS)}
UNRANKED_COLUMN = "Not ranked because"
SCHEMAS = "../dexbench/leaderboards/schemas/"
TITLE = "DexBench leaderboards"
SUMMARY_NOTE = (
    f"Success rate on each task's native embodiment, variant D0; ranked results only (at least "
    f"{MIN_RANKED_EPISODES} episodes on the published seeds). Mean: over the tasks a method has, with "
    "how many of the tasks that is. A generator's cell is the success of the policy trained on its "
    "demos (its best row on the id). Missing: -."
)
ORDER_NOTE = (
    "Rows: native embodiment first, then by env id, then by success rate. Success rates are over "
    "the evaluation episodes, with a 95 % Wilson confidence interval recomputed from the counts. "
    f"Results with fewer than {MIN_RANKED_EPISODES} episodes, not on the published seeds, or in an env "
    "made with other kwargs are listed apart, unranked. `[objects varied]`: the published seeds with "
    "the task's object variants drawn per episode (`compare --objects random`), ranked among "
    "themselves and not in the summary."
)
VERIFY_NOTE = (
    "Verified: `dexbench leaderboard verify` re-ran a sample of the row's episodes (chosen from the "
    "submission file's hash) in the evaluation sandbox on the current DexBench and MuJoCo, and each gave "
    "the claimed success and length (\u2713); \u2717: an episode came out otherwise; ?: it could not be "
    "re-run (no checkpoint shipped, a policy package not installed); -: not run. Within a task, verified "
    "rows come first. Its record is `verified/<submission>.json`, for the submission file as it is now. "
    "A generator row: a sample of its generation attempts was re-run alone from remade sources, and each "
    "gave the claimed outcome and, for a success, the same demo bit for bit (record: "
    "`verified/generators/<submission>.json`); its downstream policy is verified as a policy row."
)

HOW_TO_SUBMIT = [
    (
        "Evaluate your policy on each env id with `dexbench eval --policy MODULE:ATTR --env ID --episodes "
        f"{MIN_RANKED_EPISODES} --out results/ID.json`. Keep the published seeds (the default): only results with "
        f"at least {MIN_RANKED_EPISODES} episodes on them are ranked."
    ),
    (
        "Wrap the results into one submission: `dexbench leaderboard submit-policy results/*.json --name NAME "
        "--authors AUTHORS --description TEXT --out leaderboards/policies/NAME.json` (add `--url URL`, and "
        "`--train-data GENERATOR --train-demos N` for a trained policy; "
        f"[schema]({SCHEMAS}policy_submission.schema.json)). A demo generator: run `dexbench compare`, then "
        "`dexbench leaderboard submit-generators WORKDIR/compare.json --authors AUTHORS` writes one file per "
        f"generator to `leaderboards/generators/` ([schema]({SCHEMAS}generator_submission.schema.json))."
    ),
    (
        "Check it: `dexbench leaderboard validate leaderboards/policies/NAME.json` checks the schema, that the "
        "counts, rates, Wilson intervals and seeds agree, and that the pages build with it. Submit what the "
        "commands wrote, unchanged."
    ),
    (
        "Make it verifiable: put each checkpoint in `leaderboards/policies/checkpoints/<its sha256>/`, pin your "
        "policy's package, and run `dexbench leaderboard verify leaderboards/policies/NAME.json --out "
        "leaderboards/verified/NAME.json`: every episode it re-runs must come out as claimed. A generator "
        "submission made by `submit-generators` records its attempts: `dexbench leaderboard verify "
        "leaderboards/generators/NAME.json --out leaderboards/verified/generators/NAME.json` re-runs a sample."
    ),
    "Open a pull request adding the file; the pages are rebuilt with `dexbench leaderboard build`.",
]


NO_SUBMISSIONS = "No submissions yet."
NO_RANKED = "No ranked results yet."
UNRANKED_TITLE = (
    f"Not ranked (fewer than {MIN_RANKED_EPISODES} episodes, not the published seeds, or another "
    "env: not comparable with the rows above)"
)


def summary_columns(kind: str, summary: Summary) -> list[str]:
    return [BOARDS[kind][1][0]] + [env_id.removeprefix("DexMG/") for env_id in summary.columns] + ["Mean (tasks)"]


def with_reasons(rows: list[Row]) -> list[TableRow]:
    """Unranked rows with a last cell that says why."""
    return [TableRow(cells=r.cells + [r.unranked], sort=r.sort + [None], url=r.url, native=r.native) for r in rows]


# ----------------------------------------------------------------------------- Markdown
# Inline HTML, emphasis, code, cell separators, and "](" / "][" (no link or image can form without
# them, while our own "[lo, hi]" intervals stay readable).
_MD_SPECIAL = re.compile(r"([\\`*_<>|]|\](?=[(\[]))")


def md(text: str) -> str:
    """Plain text safe in a Markdown table cell: one line, table/link/HTML syntax escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_table(columns: list[str], rows: list[TableRow], empty: str) -> list[str]:
    if not rows:
        return [empty, ""]
    lines = ["| " + " | ".join(md(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [md(c) for c in row.cells]
        if row.url:  # the schema allows only http(s) urls without spaces, quotes or brackets
            cells[0] = f"[{cells[0]}]({row.url.replace('|', '%7C')})"
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def render_markdown(tables: Tables) -> str:
    intro = (
        "Generated by `dexbench leaderboard build` from the submissions in [policies/](policies/) and "
        "[generators/](generators/): edit those, not this file. The same tables, sortable: "
        "[index.html](index.html)."
    )
    lines = [f"# {TITLE}", "", intro, "", "## How to submit", ""]
    lines += [f"{i}. {step}" for i, step in enumerate(HOW_TO_SUBMIT, 1)] + ["", "## Summary", "", SUMMARY_NOTE, ""]
    for kind, (title, _) in BOARDS.items():
        summary = tables.summaries[kind]
        lines += [f"### {title}", ""] + _md_table(summary_columns(kind, summary), summary.rows, NO_RANKED)
    lines += [ORDER_NOTE, "", VERIFY_NOTE, ""]
    for task in tables.tasks:
        lines += [f"## {md(task)}", ""]
        if task in tables.images:
            lines += [f"![{md(task)}]({tables.image_dir}/{task}.png)", ""]
        for kind, (title, columns) in BOARDS.items():
            ranked, unranked = tables.rows(kind, task, ranked=True), tables.rows(kind, task, ranked=False)
            lines += [f"### {title}", ""] + _md_table(columns, ranked, NO_RANKED if unranked else NO_SUBMISSIONS)
            if unranked:
                lines += [f"{UNRANKED_TITLE}:", ""] + _md_table(
                    columns + [UNRANKED_COLUMN], with_reasons(unranked), NO_SUBMISSIONS
                )
    lines += ["## Submissions", ""]
    for sub in tables.submissions:
        desc = md(sub.data.get("description", ""))
        lines.append(
            f"- **{md(sub.data['name'])}** ({sub.kind}, [{md(sub.file)}]({quote(sub.file)})) by "
            f"{md(sub.data['authors'])}" + (f": {desc}" if desc else "")
        )
    if not tables.submissions:
        lines.append("None yet.")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- HTML
CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; width: 100%; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; }
th { background: #f4f4f4; cursor: pointer; user-select: none; white-space: nowrap; }
th[data-dir="asc"]::after { content: " \\25B2"; } th[data-dir="desc"]::after { content: " \\25BC"; }
tr.native td { background: #f7fbff; } td.num { text-align: right; white-space: nowrap; }
img.task { max-width: 480px; width: 100%; border: 1px solid #ddd; }
code { background: #f4f4f4; padding: 0 .2em; } .note { color: #555; }
"""

# Click a header to sort by its column (again to reverse); numeric cells carry data-sort, and empty
# ones ("-") stay last either way.
SORT_JS = """
document.querySelectorAll("table.lb th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var asc = th.dataset.dir !== "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    function key(td) {
      return td.dataset.sort !== undefined ? parseFloat(td.dataset.sort) : td.textContent.trim();
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      if (typeof x === "number" && typeof y === "number") {
        if (isNaN(x) || isNaN(y)) { return isNaN(x) - isNaN(y); }
        return asc ? x - y : y - x;
      }
      var c = String(x).localeCompare(String(y), undefined, {numeric: true, sensitivity: "base"});
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _md_code_to_html(text: str) -> str:
    """The how-to text is ours: `code` and [label](link) become tags after escaping."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', text)


def _html_table(columns: list[str], rows: list[TableRow], empty: str) -> list[str]:
    if not rows:
        return [f'<p class="note">{esc(empty)}</p>']
    out = [
        '<table class="lb">',
        "<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        cells = []
        for i, (text, key) in enumerate(zip(row.cells, row.sort)):
            inner = esc(text)
            if i == 0 and row.url:
                inner = f'<a href="{esc(row.url)}" rel="nofollow noopener">{inner}</a>'
            if key is None:
                attrs = ""
            else:  # a missing number (NaN) gets an empty key: it parses as NaN and sorts last
                attrs = f' class="num" data-sort="{"" if math.isnan(key) else repr(float(key))}"'
            cells.append(f"<td{attrs}>{inner}</td>")
        tr = '<tr class="native">' if row.native else "<tr>"
        out.append(tr + "".join(cells) + "</tr>")
    return out + ["</tbody>", "</table>"]


def render_html(tables: Tables) -> str:
    intro = (
        "<p>Generated by <code>dexbench leaderboard build</code> from the submissions in "
        "<code>leaderboards/policies/</code> and <code>leaderboards/generators/</code>. "
        "Click a column header to sort.</p>"
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{TITLE}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{TITLE}</h1>",
        intro,
        "<h2>How to submit</h2>",
        "<ol>",
    ]
    out += [f"<li>{_md_code_to_html(step)}</li>" for step in HOW_TO_SUBMIT]
    out += ["</ol>", '<h2 id="summary">Summary</h2>', f'<p class="note">{esc(SUMMARY_NOTE)}</p>']
    for kind, (title, _) in BOARDS.items():
        summary = tables.summaries[kind]
        out += [f"<h3>{title}</h3>"] + _html_table(summary_columns(kind, summary), summary.rows, NO_RANKED)
    out.append(f'<p class="note">{esc(ORDER_NOTE)} Native rows are shaded.</p>')
    out.append(f'<p class="note">{_md_code_to_html(VERIFY_NOTE)}</p>')
    for task in tables.tasks:
        out.append(f'<h2 id="{esc(task)}">{esc(task)}</h2>')
        if task in tables.images:
            out.append(f'<img class="task" src="{esc(tables.image_dir)}/{esc(task)}.png" alt="{esc(task)}">')
        for kind, (title, columns) in BOARDS.items():
            ranked, unranked = tables.rows(kind, task, ranked=True), tables.rows(kind, task, ranked=False)
            out += [f"<h3>{title}</h3>"] + _html_table(columns, ranked, NO_RANKED if unranked else NO_SUBMISSIONS)
            if unranked:
                out += [f'<p class="note">{esc(UNRANKED_TITLE)}:</p>']
                out += _html_table(columns + [UNRANKED_COLUMN], with_reasons(unranked), NO_SUBMISSIONS)
    out += ["<h2>Submissions</h2>", "<ul>"]
    for sub in tables.submissions:
        desc = sub.data.get("description", "")
        out.append(
            f"<li><b>{esc(sub.data['name'])}</b> ({esc(sub.kind)}, <code>{esc(sub.file)}</code>) by "
            f"{esc(sub.data['authors'])}{': ' + esc(desc) if desc else ''}</li>"
        )
    if not tables.submissions:
        out.append("<li>None yet.</li>")
    out += ["</ul>", f"<script>{SORT_JS}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
