from flask_smorest import Api


def register_api(api: Api) -> None:
    pass
