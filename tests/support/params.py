"""Engine parameters for a database of a throwaway server."""


def engine_params(server, database, repo, **options):
    """Module-style params (login_*, database, repository) plus options."""
    params = server.conn_params(database)
    params['repository'] = repo
    params.update(options)
    return params
