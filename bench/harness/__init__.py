"""What every benchmark script needs: the machine, servers, a database, wrk, profiles."""
