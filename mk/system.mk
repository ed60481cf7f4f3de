# The system test alone: the package on Debian 12 and 13, each in a
# container booted with systemd as PID 1 (tests/suites/t-80-system.sh; as root,
# with systemd-nspawn and debootstrap; 'make check' runs it too).
#
#   make system-check                        both releases
#   make system-check SYSTEM_RELEASES=trixie one
#   make system-images                       only make (or check) the cached images

SYSTEM_RELEASES ?= bookworm trixie

system-check:
	@SYSTEM_RELEASES="$(SYSTEM_RELEASES)" bash tests/suites/t-80-system.sh

system-images:
	@for r in $(SYSTEM_RELEASES); do bash tests/system/image.sh $$r || exit 1; done

.PHONY: system-check system-images
