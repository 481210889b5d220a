"""The playground page's static files (`static/`: one HTML page, one JS module, one stylesheet).

No build step: the files are served as they are written here, by `api/playground.py`.
"""
