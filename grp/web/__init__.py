"""Web pages of the platform: sign-in, language and department switch, administration."""

from flask import Flask


def register_web(app: Flask) -> None:
    from grp.web.views import bp

    app.register_blueprint(bp)
