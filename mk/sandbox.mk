# The sandbox's proof: a build of the helper that, asked to, tries what it
# never does once confined (tests/lib/sandbox_hook.c, wrapped around auth_answer); tests/suites/t-42-sandbox.sh
# expects each attempt refused or the process killed.
#
#   make sandbox-test	build it (part of 'make check')

SANDBOX_TEST = tests/prosody-token-auth-sandbox-test

$(SANDBOX_TEST): $(MAIN_SRCS) $(LIB) $(HDRS) tests/lib/sandbox_hook.c Makefile \
    mk/sandbox.mk
	$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) $(ALL_LDFLAGS) \
	    -Wl,--wrap=auth_answer -o $@ $(MAIN_SRCS) tests/lib/sandbox_hook.c \
	    $(LIB) $(LIBS)

sandbox-test: $(SANDBOX_TEST)

CHECK_DEPS += $(SANDBOX_TEST)

sandbox-clean:
	rm -f $(SANDBOX_TEST)
clean: sandbox-clean

.PHONY: sandbox-test sandbox-clean
