# prosody-token-auth
#
#   make                 build the helper
#   make check           every test (installs nothing: run tests/deps.sh first)
#   make install         DESTDIR=... PREFIX=/usr/local
#   make demo            a working Prosody login on loopback

VERSION = 3.0.0
PROG	= prosody-token-auth
# Where 'make install' puts things; each may be overridden (DESTDIR too).
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
DATADIR	?= $(PREFIX)/share
MANDIR	?= $(DATADIR)/man
DOCDIR	?= $(DATADIR)/doc/$(PROG)
SYSCONFDIR ?= /etc
PROSODY_MODULES ?= $(PREFIX)/lib/prosody/modules
PROSODY_CONFDIR ?= $(SYSCONFDIR)/prosody/conf.avail
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system

CC	?= cc
CFLAGS	?= -O2 -g
PKGS	= libcrypto libbsd lmdb libseccomp hiredis jansson
# rediss:// only where hiredis was built with TLS (1.x as Debian 13 has it;
# not Debian 12's 0.14): the helper then says so and names the alternatives.
ifeq ($(shell pkg-config --exists hiredis_ssl && echo yes),yes)
PKGS	+= hiredis_ssl libssl
TLS_CPPFLAGS = -DHAVE_HIREDIS_SSL
endif

WARN	= -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	  -Wmissing-prototypes -Wformat=2 -Wvla
HARDEN	= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE \
	  -fstack-clash-protection
HARDEN_LD = -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack

ALL_CPPFLAGS = -DVERSION='"$(VERSION)"' -D_GNU_SOURCE $(TLS_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = -std=c11 $(WARN) $(HARDEN) $(shell pkg-config --cflags $(PKGS)) $(CFLAGS)
ALL_LDFLAGS  = $(HARDEN_LD) $(LDFLAGS)
LIBS	     = $(shell pkg-config --libs $(PKGS))

# The program's modules but main and the CLI, as a static library that the
# program, the unit tests, the benchmarks and the fuzzers link: built once
# per kind of build (OBJDIR: the compiler's name, so that a clang build never
# mixes in gcc's objects).
LIB_SRCS = src/auth.c src/base32.c src/config.c src/config_lines.c \
	   src/format.c src/format_converse.c src/format_jwt.c src/frame.c \
	   src/io.c src/jid.c src/jwks.c src/jwt.c src/log.c src/mac.c \
	   src/redis_batch.c src/redis_cluster.c src/redis_keys.c \
	   src/redis_describe.c src/redis_link.c src/redis_sharded.c \
	   src/redis_single.c src/redis_url.c src/replay.c \
	   src/replay_lmdb.c src/replay_redis.c src/request.c src/reload.c \
	   src/sandbox.c src/secmem.c src/secrets.c src/serve.c src/setting.c \
	   src/term.c src/token.c src/token_explain.c src/totp.c
MAIN_SRCS = src/cli.c src/cli_jwt.c src/connect.c src/ejabberd_conf.c \
	    src/listen.c src/main.c
HDRS	 = $(wildcard src/*.h)
OBJDIR	?= build/$(notdir $(firstword $(CC)))
ASANDIR	 = build/asan
LIB	 = $(OBJDIR)/libpta.a
ASAN_LIB = $(ASANDIR)/libpta.a

UNITS	 = base32 totp mac token config replay frame request auth jid \
	   vectors redis_url redis_cluster jwt
UNIT_BINS = $(UNITS:%=tests/unit/test_%)
CHECK_LIBS = $(shell pkg-config --libs check)

# The same modules with AddressSanitizer and UndefinedBehaviorSanitizer.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=all
SAN_CFLAGS = -U_FORTIFY_SOURCE -std=c11 $(WARN) \
	     $(shell pkg-config --cflags $(PKGS)) $(SAN_FLAGS)

# Further targets (benchmarks, fuzzing, ...) live in mk/*.mk; each may add
# prerequisites of 'make check' to CHECK_DEPS.
.DEFAULT_GOAL := all
CHECK_DEPS =
include $(wildcard mk/*.mk)

all: $(PROG)

$(OBJDIR)/%.o: src/%.c $(HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(ASANDIR)/%.o: src/%.c $(HDRS) Makefile
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(SAN_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_SRCS:src/%.c=$(OBJDIR)/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(ASAN_LIB): $(LIB_SRCS:src/%.c=$(ASANDIR)/%.o)
	rm -f $@
	$(AR) rcs $@ $^

$(PROG): $(MAIN_SRCS) $(LIB) $(HDRS) Makefile
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(MAIN_SRCS) \
	    $(LIB) $(LIBS)

$(PROG)-asan: $(MAIN_SRCS) $(ASAN_LIB) $(HDRS) Makefile
	$(CC) $(ALL_CPPFLAGS) $(SAN_CFLAGS) -o $@ $(MAIN_SRCS) $(ASAN_LIB) \
	    $(LIBS)

tests/unit/test_%: tests/unit/test_%.c tests/unit/unit.h $(LIB) $(HDRS) Makefile
	$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(LIB) $(LIBS) $(CHECK_LIBS)

tests/unit/asan_%: tests/unit/test_%.c tests/unit/unit.h $(ASAN_LIB) $(HDRS) Makefile
	$(CC) $(ALL_CPPFLAGS) -Isrc $(SAN_CFLAGS) -o $@ $< $(ASAN_LIB) \
	    $(LIBS) $(CHECK_LIBS)

units: $(UNIT_BINS)
units-asan: $(UNITS:%=tests/unit/asan_%)

# The fast unit tests alone (what the Debian build runs).
unit-check: $(UNIT_BINS)
	@tests/run.sh --units-only

# Everything: unit suites (plain, valgrind, sanitizers) and shell suites.
check: $(PROG) $(PROG)-asan units units-asan $(CHECK_DEPS)
	@tests/run.sh

check-asan: $(PROG)-asan units-asan
	@tests/run.sh --asan-only

# Everything a system needs, Debian or not: the helper and its man page,
# the Prosody modules and host fragment, the systemd units, the stress
# harness and the login storm client, the examples. (The Debian package
# installs the same files, in Debian's places, through debian/rules.) Paths
# inside the files that name the helper follow BINDIR and DATADIR.
install: install-program install-prosody install-systemd install-stress \
    install-examples

install-program: $(PROG)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(PROG) $(DESTDIR)$(BINDIR)/$(PROG)
	install -m 0644 doc/$(PROG).1 $(DESTDIR)$(MANDIR)/man1/$(PROG).1

install-prosody:
	install -d $(DESTDIR)$(PROSODY_MODULES) $(DESTDIR)$(PROSODY_CONFDIR)
	install -m 0644 prosody/*.lua $(DESTDIR)$(PROSODY_MODULES)/
	install -m 0644 packaging/$(PROG).cfg.lua $(DESTDIR)$(PROSODY_CONFDIR)/

INSTALLED_PATHS = -e 's|/usr/bin/$(PROG)|$(BINDIR)/$(PROG)|g' \
		  -e 's|/usr/share/$(PROG)|$(DATADIR)/$(PROG)|g'

install-systemd:
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	for unit in $(PROG).socket $(PROG)@.service; do \
		sed $(INSTALLED_PATHS) packaging/$$unit \
		    >$(DESTDIR)$(SYSTEMD_UNITDIR)/$$unit && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$$unit || exit 1; \
	done

install-stress:
	install -d $(DESTDIR)$(DATADIR)/$(PROG)/tests $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1
	install -m 0755 tests/harness/stress.sh $(DESTDIR)$(DATADIR)/$(PROG)/tests/
	install -m 0644 tests/harness/checks.py tests/harness/tokengen.py \
	    tests/harness/tokenconf.py tests/harness/stress_driver.py \
	    $(DESTDIR)$(DATADIR)/$(PROG)/tests/
	sed $(INSTALLED_PATHS) packaging/$(PROG)-stress \
	    >$(DESTDIR)$(BINDIR)/$(PROG)-stress
	chmod 0755 $(DESTDIR)$(BINDIR)/$(PROG)-stress
	install -m 0644 packaging/$(PROG)-stress.1 $(DESTDIR)$(MANDIR)/man1/
	# the login storm client, for a running XMPP server
	install -m 0644 tests/harness/xmpp_storm.py $(DESTDIR)$(DATADIR)/$(PROG)/tests/
	sed $(INSTALLED_PATHS) packaging/$(PROG)-storm \
	    >$(DESTDIR)$(BINDIR)/$(PROG)-storm
	chmod 0755 $(DESTDIR)$(BINDIR)/$(PROG)-storm
	install -m 0644 packaging/$(PROG)-storm.1 $(DESTDIR)$(MANDIR)/man1/

install-examples:
	install -d $(DESTDIR)$(DOCDIR)/examples/converse
	install -m 0644 packaging/ejabberd.yml packaging/ejabberd-connect.yml \
	    packaging/ejabberd-socket.conf examples/mint_token.py \
	    examples/mint_token.php examples/mint_token.mjs \
	    examples/mint_jwt.py examples/mint_jwt.php examples/mint_jwt.mjs \
	    $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 examples/converse/* $(DESTDIR)$(DOCDIR)/examples/converse/
	install -d $(DESTDIR)$(DOCDIR)/examples/monitoring
	install -m 0644 examples/monitoring/* $(DESTDIR)$(DOCDIR)/examples/monitoring/
	install -d $(DESTDIR)$(DOCDIR)/examples/containers
	install -m 0644 examples/containers/* $(DESTDIR)$(DOCDIR)/examples/containers/
	install -m 0644 README.md doc/test-vectors.md $(DESTDIR)$(DOCDIR)/
	# the README's pages, where its links find them
	install -d $(DESTDIR)$(DOCDIR)/doc
	install -m 0644 doc/*.md doc/*.svg $(DESTDIR)$(DOCDIR)/doc/

demo: $(PROG)
	HELPER=$(CURDIR)/$(PROG) tests/demo.sh

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf $(PROG) $(PROG)-asan $(UNIT_BINS) $(UNITS:%=tests/unit/asan_%) \
	    build

.PHONY: all check check-asan unit-check units units-asan install \
    install-program install-prosody install-systemd install-stress \
    install-examples demo format clean
