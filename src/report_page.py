"""The report's one page: every dataset version on a single self-contained HTML file (src/report.py
writes it as OUT/index.html).

It renders the values report.py and scaling.py computed (the rows, their differences, the verdict)
and nothing else: the answer to "step by step or jump?" with its prediction and costs, the versions
table, the scaling plot and the training curves as inline SVG, the generated samples of every
version side by side (a column per version, a row per prompt), and what each version is. Styles are
inline and there is no script, so the page opens from file:// in any browser with no network. Every
text from a version (sample text is model output, labels are git refs) is escaped.
"""

from __future__ import annotations

import html
import re

import scaling

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 80em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.verdict { display: inline-block; padding: 0.15em 0.7em; border-radius: 0.8em; font-weight: bold; }
.verdict-jump { background: #c8ecc8; } .verdict-probably-jump { background: #fbe7b0; }
.verdict-wait { background: #e4e4e4; } .verdict-none { background: #f3f3f3; }
.real { background: #e3f5e3; } .noise { color: #777; }
table.samples td, table.samples th { min-width: 16em; max-width: 28em; }
table.samples th:first-child { min-width: 6em; max-width: 9em; }
table.samples td { white-space: pre-wrap; font: 13px/1.4 ui-monospace, monospace; }
table.samples td.none { color: #888; font-style: italic; font-family: system-ui, sans-serif; }
table.samples td b { background: #eef; font-weight: normal; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.small { color: #666; font-size: 0.9em; }
"""
NUMERIC = {"train tokens", "tokens trained (chain)", "val loss", "val bits per byte", "training tokens (est.)",
           "download", "disk (text + tokens)", "time (stages)"}


def esc(value) -> str:
    return html.escape(str(value))


def table(header, body: list[list[str]], classes: list[str] | None = None, raw: bool = False) -> str:
    """An HTML table; cells escaped unless `raw` (already markup); `classes`: one per body row."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    lines = []
    for i, cells in enumerate(body):
        tds = "".join(f'<td{" class=num" if h in NUMERIC else ""}>{cell if raw else esc(cell)}</td>'
                      for h, cell in zip(header, cells))
        lines.append(f'<tr{f" class={classes[i]!r}" if classes and classes[i] else ""}>{tds}</tr>')
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>'


def emphasis(text: str) -> str:
    """Escaped text, with the Markdown notes' *word* as <em>."""
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", esc(text))


def answer_section(answer: scaling.Answer | None) -> str:
    """The verdict first, then what it rests on: the fit, the next parts' prediction and cost."""
    if answer is None:
        return ""
    verdict = answer.verdict or {"priced": "no fit yet", "complete": "every part is in"}.get(answer.costs,
                                                                                          "no cost estimate")
    badge = f"verdict-{(answer.verdict or 'none').replace(' ', '-')}"
    parts = [f'<p><span class="verdict {badge}">{esc(verdict)}</span></p>',
             f"<p>{esc(scaling.fit_sentence(answer))}</p>"]
    if scaling.costs_sentence(answer):
        parts.append(f"<p>{esc(scaling.costs_sentence(answer))}</p>")
    if answer.costs == "priced":
        parts.append(table(scaling.STEP_COLUMNS, [step.cells() for step in answer.steps]))
        if not answer.measured:
            parts.append(f'<p class="small">{esc(scaling.MEASURED_NOTE)}</p>')
        parts.append(f"<p>{esc(scaling.verdict_sentence(answer))}</p>")
    return '<section id="answer"><h2>Step by step or jump?</h2>' + "\n".join(parts) + "</section>"


def versions_section(rows: list, cells: list[list[str]], columns, notes: list[str]) -> str:
    """The versions table: a step that is a real gain (or loss) is shaded, one within noise greyed."""
    classes = ["" if row.difference is None else "real" if row.difference.real else "noise" for row in rows]
    return ('<section id="versions"><h2>Versions</h2>' + table(columns, cells, classes)
            + "".join(f'<p class="small">{emphasis(note)}</p>' for note in notes) + "</section>")


def inline_svg(svg: str) -> str:
    """matplotlib's SVG file as an element of the page: from <svg on (no XML prolog, no DOCTYPE)."""
    return svg[svg.index("<svg"):]


def figures_section(figures: dict[str, str]) -> str:
    inner = "".join(f"<figure>{inline_svg(svg)}<figcaption class=small>{esc(title)}</figcaption></figure>"
                    for title, svg in figures.items())
    return f'<section id="figures"><h2>Scaling and training curves</h2>{inner}</section>'


def prompts_of(versions: list) -> list[str]:
    """Every prompt any version was sampled with, in the order the versions list them."""
    return list(dict.fromkeys(prompt for v in versions for prompt in v.samples))


def sample_cell(version, prompt: str) -> str:
    """The version's text for the prompt (the prompt itself marked; runs of blank lines shown as one),
    or an empty cell saying why."""
    if prompt not in version.samples:
        why = version.samples_note or "no sample for this prompt in this version"
        return f'<td class="none">{esc(why)}</td>'
    text = re.sub(r"\n{3,}", "\n\n", version.samples[prompt])  # one blank line at most: cells comparable at a glance
    if text.startswith(prompt):
        return f"<td><b>{esc(prompt)}</b>{esc(text[len(prompt):])}</td>"
    return f"<td>{esc(text)}</td>"


def samples_section(rows: list) -> str:
    """The generated text of every version for the same prompts: a column per version, a row per prompt."""
    versions = [row.version for row in rows]
    prompts = prompts_of(versions)
    head = "".join(f"<th>{esc(v.name)}<br><span class=small>parts {esc(scaling.parts_label(sorted(v.parts)))}, "
                   f"{v.metrics['train_tokens']:,} training tokens, val loss {v.metrics['val_loss']:.3f}</span></th>"
                   for v in versions)
    body = "".join(f"<tr><th>{esc(prompt)}</th>{''.join(sample_cell(v, prompt) for v in versions)}</tr>"
                   for prompt in prompts)
    if not prompts:  # no version has samples: one row says why, per version
        body = f"<tr><th></th>{''.join(sample_cell(v, '') for v in versions)}</tr>"
    return ('<section id="samples"><h2>Generated text, side by side</h2><p class=small>Each version\'s '
            "samples (the evaluate stage's prompts and seeds; the prompt is marked).</p>"
            f'<div class="scroll"><table class="samples"><thead><tr><th>prompt</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></section>")


def changes_cell(changed: list | None) -> str:
    if changed is None:
        return "first version"
    if not changed:
        return "same params"
    return "<br>".join(f"<code>{esc(key)}</code>: {esc(old)} → {esc(new)}" for key, old, new in changed)


def identity_section(rows: list) -> str:
    """What each version is: tag or experiment, commit, and the params that differ from the row before."""
    body = [[esc(row.version.name), esc(row.version.kind), f'<code title="{esc(row.version.sha)}">'
             f"{esc(row.version.sha[:7])}</code>", changes_cell(row.changed)] for row in rows]
    return ('<section id="what"><h2>What each version is</h2>'
            + table(("version", "kind", "commit", "params that differ from the version above"), body, raw=True)
            + "</section>")


def render(rows: list, cells: list[list[str]], columns, notes: list[str], answer: scaling.Answer | None,
           figures: dict[str, str]) -> str:
    """The whole page: `rows` are report.Row values in table order, `cells` their text as versions.md
    shows it, `figures` title -> SVG text."""
    title = f"{len(rows)} dataset versions"
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in (
        ("answer", "step by step or jump?"), ("versions", "versions"), ("figures", "curves"),
        ("samples", "samples"), ("what", "what each version is")))
    return ("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{esc(title)}</h1><nav>{nav}</nav>\n"
            + "\n".join([answer_section(answer), versions_section(rows, cells, columns, notes),
                         figures_section(figures), samples_section(rows), identity_section(rows)])
            + "\n</body></html>\n")
