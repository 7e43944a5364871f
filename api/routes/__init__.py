"""The HTTP routes, one APIRouter per area, in the order the app includes them.

Each route gets the worker's `Service` by `Depends(service_of)`; errors are answered in
the one shape of `api/errors.py`.
"""
