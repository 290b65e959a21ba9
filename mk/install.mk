# make install / make uninstall, and check part `install` (issue 19).
#
#   make install                      into PREFIX (/usr/local)
#   make install PREFIX=/opt/lemmalloc DESTDIR=/tmp/stage
#   make uninstall                    with the same variables: removes exactly
#                                     what install put there
# Variables: PREFIX, DESTDIR (staging root, prepended to every path),
# LIBDIR (PREFIX/lib), BINDIR (PREFIX/bin), INCLUDEDIR (PREFIX/include),
# PKGCONFIGDIR (LIBDIR/pkgconfig).
#
# What goes where:
#   LIBDIR/liblemmalloc.so.X.Y.Z      soname liblemmalloc.so.X, with the
#   LIBDIR/liblemmalloc.so.X -> .so.X.Y.Z   symlinks the loader and the
#   LIBDIR/liblemmalloc.so   -> .so.X       linker look for
#   LIBDIR/liblemmalloc.a
#   INCLUDEDIR/lemmalloc.h
#   PKGCONFIGDIR/lemmalloc.pc         pkg-config --cflags --libs lemmalloc
#   BINDIR/lemmalloc                  bin/lemmalloc, rewritten to preload
#                                     LIBDIR/liblemmalloc.so.X
#   BINDIR/lemmalloc-oracle           tools/oracle
# As root with no DESTDIR, install and uninstall run ldconfig.
#
# Check part `install` (tests/install/install.sh): installs into a
# temporary DESTDIR and a temporary PREFIX, builds a program with
# pkg-config against each and runs it, runs programs through the installed
# wrapper, exercises every wrapper option, uninstalls, and checks nothing is
# left. Budget: a few seconds.

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
BINDIR       ?= $(PREFIX)/bin
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=
INSTALL      ?= install

LM_REALNAME := liblemmalloc.so.$(LM_VERSION)
# Paths under PREFIX are written relative to ${prefix} in the .pc file.
lm_pc_rel = $(subst $(PREFIX)/,$${prefix}/,$(1))

# Generated at every install: they hold the paths of this install.
.PHONY: $(BUILD)/lemmalloc.pc $(BUILD)/lemmalloc.installed
$(BUILD)/lemmalloc.pc: mk/lemmalloc.pc.in
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call lm_pc_rel,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call lm_pc_rel,$(INCLUDEDIR))|' -e 's|@VERSION@|$(LM_VERSION)|' $< >$@
# The wrapper, pointed at the installed library (by its soname).
$(BUILD)/lemmalloc.installed: bin/lemmalloc
	@mkdir -p $(@D)
	sed -e "s|^installed_lib=.*|installed_lib='$(LIBDIR)/$(LM_SONAME)'|" \
	    -e "s|^installed_version=.*|installed_version='$(LM_VERSION)'|" $< >$@
	@grep -q "^installed_lib='$(LIBDIR)/$(LM_SONAME)'" $@

.PHONY: install uninstall
install: $(BUILD)/liblemmalloc.so $(BUILD)/liblemmalloc.a $(BUILD)/lemmalloc-oracle \
         $(BUILD)/lemmalloc.pc $(BUILD)/lemmalloc.installed
	$(INSTALL) -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)'
	$(INSTALL) -m 755 $(BUILD)/liblemmalloc.so '$(DESTDIR)$(LIBDIR)/$(LM_REALNAME)'
	ln -sf $(LM_REALNAME) '$(DESTDIR)$(LIBDIR)/$(LM_SONAME)'
	ln -sf $(LM_SONAME) '$(DESTDIR)$(LIBDIR)/liblemmalloc.so'
	$(INSTALL) -m 644 $(BUILD)/liblemmalloc.a '$(DESTDIR)$(LIBDIR)/liblemmalloc.a'
	$(INSTALL) -m 644 include/lemmalloc.h '$(DESTDIR)$(INCLUDEDIR)/lemmalloc.h'
	$(INSTALL) -m 644 $(BUILD)/lemmalloc.pc '$(DESTDIR)$(PKGCONFIGDIR)/lemmalloc.pc'
	$(INSTALL) -m 755 $(BUILD)/lemmalloc.installed '$(DESTDIR)$(BINDIR)/lemmalloc'
	$(INSTALL) -m 755 $(BUILD)/lemmalloc-oracle '$(DESTDIR)$(BINDIR)/lemmalloc-oracle'
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" -eq 0 ]; then ldconfig; fi

uninstall:
	rm -f '$(DESTDIR)$(LIBDIR)/$(LM_REALNAME)' '$(DESTDIR)$(LIBDIR)/$(LM_SONAME)' \
	      '$(DESTDIR)$(LIBDIR)/liblemmalloc.so' '$(DESTDIR)$(LIBDIR)/liblemmalloc.a' \
	      '$(DESTDIR)$(INCLUDEDIR)/lemmalloc.h' '$(DESTDIR)$(PKGCONFIGDIR)/lemmalloc.pc' \
	      '$(DESTDIR)$(BINDIR)/lemmalloc' '$(DESTDIR)$(BINDIR)/lemmalloc-oracle'
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" -eq 0 ]; then ldconfig; fi

CHECK_PARTS += install
.PHONY: check-install
check-install:
	@mkdir -p $(BUILD)/install-test; \
	if $(MAKE) --no-print-directory -s $(BUILD)/liblemmalloc.so $(BUILD)/liblemmalloc.a $(BUILD)/lemmalloc-oracle \
	     >$(BUILD)/install-test.log 2>&1; \
	then echo "PASS: install: build the library and the oracle"; \
	else cat $(BUILD)/install-test.log; echo "FAIL: install: build"; exit 1; fi; \
	tests/install/install.sh $(LM_VERSION) $(LM_SONAME)
