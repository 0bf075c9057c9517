# A small Flask app behind the capture's nginx: sets the session cookies real frameworks set
# (names and shapes as Django, PHP, Laravel, Express and Java servlets send them) and logs
# requests the way Werkzeug's dev server does. Values come from the query string.
import sys
from flask import Flask, request, make_response

app = Flask(__name__)
app.secret_key = sys.argv[2]


@app.route("/login")
def login():
    resp = make_response("ok\n")
    name = request.args.get("name", "sessionid")
    resp.set_cookie(name, request.args.get("value", ""), httponly=True, path="/")
    return resp


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def any_path(path):
    return "ok\n"


app.run(host="127.0.0.1", port=int(sys.argv[1]))
