# Login storms through real servers: 'make bench-e2e' runs whole logins
# against a throw-away Prosody (internal_plain, internal_hashed and the token
# provider side by side, on virtual hosts of one server) and a throw-away
# ejabberd (internal auth and the helper as extauth_program), and prints
# logins/s, latency percentiles, the CPU per login of the server, of the
# helpers and of the client, the ratios and the targets. See bench/storm.sh.
#
#   make bench-e2e                              about 8 minutes on 2 cores
#   make bench-e2e BENCH_E2E_ARGS=--quick       about a minute
#   make bench-e2e BENCH_E2E_ARGS="-n 20000 -r 5 --no-ejabberd"

bench-e2e: $(PROG)
	@bench/storm.sh $(BENCH_E2E_ARGS)

.PHONY: bench-e2e
