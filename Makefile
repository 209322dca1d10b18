# se-secretd: build and install.
#
#   make                       the initramfs build (scripts/build-release.sh -> out/se-secretd)
#   make install [DESTDIR=...] [PREFIX=/usr]
#
# Installs:
#   $(BINDIR)/se-secretd                        the agent and admin tool
#   $(LIBDIR)/se-secretd/se-secretd-keyscript   multi-call link for crypttab keyscript=
#   $(LIBDIR)/se-secretd/se-secretd-initrd      initramfs glue (initramfs-tools hook copies it)
#   $(UNITDIR)/se-secretd-*.service             initrd-only units (dracut installs them in the image)
#   $(DRACUTDIR)/91se-secretd/                  dracut module
#   $(INITRAMFSTOOLSDIR)/hooks/se-secretd, scripts/local-top/se-secretd,
#   scripts/local-bottom/se-secretd,
#   scripts/panic/se-secretd                    initramfs-tools hook and boot scripts (panic: the
#                                               shell guard; a no-op in images without se-secretd)
# The units are never enabled on the host: they only run in an initrd.
# dracut and initramfs-tools only look in their fixed directories, so those do
# not follow PREFIX. Rebuild the initramfs afterwards (dracut -f or
# update-initramfs -u) with the policy in /etc/se-secretd/policy.json.

PREFIX ?= /usr
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/systemd/system,$(PREFIX)/lib/systemd/system)
DRACUTDIR ?= /usr/lib/dracut/modules.d
INITRAMFSTOOLSDIR ?= /usr/share/initramfs-tools
# The binary is stripped on install (out/se-secretd already is; another
# binary given as BINARY= may not be); INSTALL_STRIP= keeps the symbols.
INSTALL_STRIP ?= -s
BINARY ?= out/se-secretd
# Only the release agent is installed: a binary that says it is anything
# else (se-secretd-test, with the simulator backend; the workbench
# se-secretd-dev) is refused unless the boot tests ask for it with
# ALLOW_TEST_BINARY=1.
ALLOW_TEST_BINARY ?=

UNITS = se-secretd-boot.service se-secretd-unlock.service se-secretd-install.service \
        se-secretd-keyfiles-cleanup.service se-secretd-failure.service
DRACUT_FILES = module-setup.sh se-secretd-modules.sh se-secretd-early.sh se-secretd-late.sh se-secretd-emergency.sh \
               se-secretd-finished.sh

.PHONY: all build install uninstall

all: build

# The initramfs build: static Swift runtime and libstdc++, full RELRO,
# stripped, linkage and size checked (docs/hardening.md).
build:
	bash scripts/build-release.sh

install:
	@test -x "$(BINARY)" || { echo "no se-secretd binary at $(BINARY): run make first (or pass BINARY=)" >&2; exit 1; }
	@v=$$("$(BINARY)" --version 2>/dev/null); case "$$v" in "se-secretd "[0-9]*) ;; \
		*) if [ "$(ALLOW_TEST_BINARY)" = 1 ]; then echo "installing $$v (ALLOW_TEST_BINARY=1: a test build, never for a real image)" >&2; \
		   else echo "refusing to install $(BINARY): it is '$$v', not the release agent se-secretd (ALLOW_TEST_BINARY=1 for the boot tests)" >&2; exit 1; fi ;; esac
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/se-secretd $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DRACUTDIR)/91se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks \
		$(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-top $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-bottom \
		$(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/panic
	install -m 0755 $(INSTALL_STRIP) $(BINARY) $(DESTDIR)$(BINDIR)/se-secretd
	ln -sf $(shell realpath -m --relative-to=$(LIBDIR)/se-secretd $(BINDIR)/se-secretd) \
		$(DESTDIR)$(LIBDIR)/se-secretd/se-secretd-keyscript
	install -m 0755 initramfs-hooks/common/se-secretd-initrd $(DESTDIR)$(LIBDIR)/se-secretd/se-secretd-initrd
	for u in $(UNITS); do install -m 0644 systemd/$$u $(DESTDIR)$(UNITDIR)/$$u; done
	for f in $(DRACUT_FILES); do install -m 0755 initramfs-hooks/dracut/91se-secretd/$$f $(DESTDIR)$(DRACUTDIR)/91se-secretd/$$f; done
	install -m 0644 initramfs-hooks/dracut/91se-secretd/se-secretd-guard.conf $(DESTDIR)$(DRACUTDIR)/91se-secretd/se-secretd-guard.conf
	install -m 0755 initramfs-hooks/common/se-secretd-initrd $(DESTDIR)$(DRACUTDIR)/91se-secretd/se-secretd-initrd
	install -m 0755 initramfs-hooks/initramfs-tools/hooks/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/se-secretd
	install -m 0755 initramfs-hooks/initramfs-tools/scripts/local-top/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-top/se-secretd
	install -m 0755 initramfs-hooks/initramfs-tools/scripts/local-bottom/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-bottom/se-secretd
	install -m 0755 initramfs-hooks/initramfs-tools/scripts/panic/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/panic/se-secretd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/se-secretd $(DESTDIR)$(LIBDIR)/se-secretd/se-secretd-keyscript \
		$(DESTDIR)$(LIBDIR)/se-secretd/se-secretd-initrd
	-rmdir $(DESTDIR)$(LIBDIR)/se-secretd
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -rf $(DESTDIR)$(DRACUTDIR)/91se-secretd
	rm -f $(DESTDIR)$(INITRAMFSTOOLSDIR)/hooks/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-top/se-secretd \
		$(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/local-bottom/se-secretd $(DESTDIR)$(INITRAMFSTOOLSDIR)/scripts/panic/se-secretd
