"""Everything the product keeps in Redis, in one place: the key names (`keys`), the Lua
scripts (`scripts`, `lua/`), the client for a URL (`connect`), the embedded redis-server
(`embedded`), and whether Redis answers (`health`) and takes writes (`readiness`).

Modules here import redis-py absolutely (`import redis`), so this package never stands in
for it; import it as `api.redis` or relatively (`from .redis.keys import member_key`)."""
