"""The HTML template of DVC's plots page, with Vega, Vega-Lite and Vega-Embed inlined: no network needed.

    python -m mnistflow.evaluation.plots_page --out .dvc/plots_page.html

(`make setup` runs this.) DVC's own page loads those three libraries from a CDN, so without a network
every Vega plot (training curves, ROC, reliability, ...) is blank. `.dvc/config` points DVC at this
template (`plots.html_template`), so `dvc plots show`, `dvc plots diff` and `make report` write pages
that carry the libraries themselves (about 0.9 MB). The bundle comes from the vl-convert-python
package (requirements.txt), so the set-up downloads nothing beyond the locked wheels. The file is
made, not committed: it is large, generated, and its content follows the locked package.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mnistflow.core import atomic, cli

logger = logging.getLogger(__name__)

# DVC's built-in templates and ours (.dvc/plots/) are Vega-Lite v5 specs: bundle the newest v5 that
# vl-convert ships, so Vega-Embed compiles them with the major version they were written for.
VEGA_LITE_VERSION = "5.21"
# dvc_render fills these three in the template (plain text replacement, in the whole file). The page
# has no `{scripts}`: that is where DVC would put its CDN <script> tags.
PLOTS_PLACEHOLDER = "{plot_divs}"
REFRESH_PLACEHOLDER = "{refresh_tag}"
SCRIPTS_PLACEHOLDER = "{scripts}"


def page_template(bundle: str) -> str:
    """The page template around the JavaScript `bundle`, which must define window.vegaEmbed.

    The bundle runs inside a function, so its top-level names (`n`, `t`, ...) cannot collide with
    the `var spec` of DVC's per-plot scripts, which follow it in the same global scope.
    """
    if "</script" in bundle.lower():
        raise ValueError("the Vega bundle contains '</script', which would end its <script> element early")
    for placeholder in (PLOTS_PLACEHOLDER, REFRESH_PLACEHOLDER, SCRIPTS_PLACEHOLDER):
        if placeholder in bundle:
            raise ValueError(f"the Vega bundle contains {placeholder!r}, which DVC would replace inside it")
    return f"""<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {REFRESH_PLACEHOLDER}
    <title>DVC Plot</title>
    <!-- Vega, Vega-Lite {VEGA_LITE_VERSION} and Vega-Embed, inlined by mnistflow.evaluation.plots_page -->
    <script>
(function () {{
{bundle}
}})();
    </script>
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {PLOTS_PLACEHOLDER}
</body>
</html>
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the template to write (.dvc/config: plots.html_template)")
    args = parser.parse_args(argv)

    import vl_convert  # here, not at the top: page_template needs no native extension loaded

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    with atomic.atomic_path(args.out) as temporary:  # UTF-8 whatever the locale: DVC reads it as UTF-8
        temporary.write_text(page_template(bundle), encoding="utf-8")
    logger.info("wrote %s (Vega-Lite %s, Vega %s, Vega-Embed %s inlined)", args.out, VEGA_LITE_VERSION,
                vl_convert.get_vega_version(), vl_convert.get_vega_embed_version())


if __name__ == "__main__":
    sys.exit(cli.run(main))
