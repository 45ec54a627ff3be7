"""The HTML report of `check`, `sync` and `experiment`: one self-contained file a reviewer opens from a CI artifact.

Self-contained means nothing is fetched when it is viewed: the CSS and the little JavaScript are inlined, and the
charts are inline SVG drawn here (no chart library: a handful of bars and histograms is a few lines of SVG, and a
vendored library would be more code than the report). A Content-Security-Policy allows only those inline parts,
so even a link someone adds cannot load anything. Every text is masked exactly like the PR comment
(promptops.sensitive.redact with the project's redact_patterns) before it is escaped.
"""

from promptops.htmlreport.page import html_report

__all__ = ["html_report"]
