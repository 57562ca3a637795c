"""The KPI dashboard: a self-contained HTML page rendered from the published reporting database."""

from .render import GRAINS, LANGUAGES, load_dashboard_data, render_dashboard, render_html

__all__ = ["GRAINS", "LANGUAGES", "load_dashboard_data", "render_dashboard", "render_html"]
