"""The processes of `rights serve`: the supervisor, the data directory's lock, the HTTP
child (uvicorn with bounded request heads and deadlines), the watch that lets no child
outlive its parent, and the choice of the rule table served at start.
"""
