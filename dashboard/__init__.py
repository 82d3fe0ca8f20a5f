"""The browser dashboard (Plotly Dash): live view, replay, session reports, sessions page.

Entry points: `create_app(config)` builds the Dash app, `DashboardServer(config)` serves it
on a host and port (tests and the CLI use it); see dashboard/app.py.
"""

from dashboard.config import DashboardConfig

__all__ = ["DashboardConfig"]
