"""The demo rule table (a dairy brand's gala night), shipped with the package so that
`rights quote` and `rights serve --demo` work from any install; examples/rules/ links to it."""

from pathlib import Path

DEMO_RULES = Path(__file__).resolve().parent / "dairy-gala.yaml"
DEMO_GRAIN_RULES = Path(__file__).resolve().parent / "grain-oil.yaml"  # the second brand, `grain`
