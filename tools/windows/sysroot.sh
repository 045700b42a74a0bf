#!/usr/bin/env bash
# tools/windows/sysroot.sh: the static Windows x86-64 sysroot that iceprobe.exe is built
# against, cross-built with Debian 12's mingw-w64 from Debian 12's own source packages
# (apt-get source: Debian's patches applied), nothing fetched from elsewhere.
#
#   tools/windows/sysroot.sh    build (or find) it; the last line of output is its path
#
# It lives outside the tree, under ICEPROBE_WIN_CACHE (/var/cache/iceprobe-win):
#   src/                        the Debian source packages as downloaded (kept across versions)
#   sysroot-HASH/               include/ lib/ lib/pkgconfig/ bin/ (GLib's build scripts),
#                               meson-sysroot.ini (the second cross file), versions.txt, times.txt
#   logs-HASH/PACKAGE.log       each package's configure/build/install output
# HASH covers this script, the cross file, the pinned source versions and the toolchain's
# package versions: a change to any of them builds a new sysroot; an unchanged one is reused
# at once (sysroot-HASH/.complete). A build that stopped half-way resumes at the package that
# had not finished (sysroot-HASH/.done-PACKAGE). ICEPROBE_WIN_SYSROOT=CACHE/sysroot-NAME
# builds into that directory instead, whatever the hash (for work on this script: a
# changed script then resumes where it stopped instead of starting again).
#
# Needs root the first time (apt-get: the toolchain, deb-src lines). Builds with one job
# under nice: the machine is shared.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
INI=$HERE/x86_64-w64-mingw32.ini
HOST=x86_64-w64-mingw32
CACHE=${ICEPROBE_WIN_CACHE:-/var/cache/iceprobe-win}
SRC=$CACHE/src

# The Debian 12 source packages, in build order, pinned so that the hash names what the
# sysroot holds. Each is the newest version of that package which this machine's Debian
# mirror serves in full (.dsc, orig and debian tarballs); where a newer security update's
# files are missing from the mirror the older one is named and docs/windows.md says so.
SOURCES=(
	"libffi 3.4.4-1"
	"pcre2 10.42-1"
	"gettext 0.21-12"
	"glib2.0 2.74.6-2+deb12u9"
	"openssl 3.0.20-1~deb12u2"
	"libsrtp2 2.5.0-3"
	"json-glib 1.6.6-1"
	"curl 7.88.1-10+deb12u15"
	"libnice 0.1.21-1"
)
# zlib is not built: Debian ships it built for mingw-w64 (libz-mingw-w64-dev, zlib 1.2.13).
TOOLCHAIN=(gcc-mingw-w64-x86-64-win32 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev
	mingw-w64-tools libz-mingw-w64-dev)
PACKAGES=("${TOOLCHAIN[@]}" dpkg-dev meson ninja-build pkg-config python3 make perl
	autoconf automake libtool xz-utils)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() {
	echo "sysroot: $*" >&2
	exit 3
}

ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root to install them"
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# enable_deb_src: apt-get source needs deb-src entries. For every enabled Debian entry of
# this release (one-line .list or deb822 .sources) that has no deb-src twin, write one
# into /etc/apt/sources.list.d/iceprobe-deb-src.sources, then apt-get update.
# Third-party entries (another suite, e.g. a vendor's) are left alone: they need not
# publish sources, and apt-get update would fail on their missing Sources index.
enable_deb_src() {
	local codename out=/etc/apt/sources.list.d/iceprobe-deb-src.sources
	codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
	[ -f "$out" ] && return 0
	apt-cache showsrc glib2.0 >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "no deb-src entries; run as root once to add them"
	python3 - "$codename" "$out" <<-'EOF'
		import glob, re, sys
		codename, out = sys.argv[1], sys.argv[2]
		stanzas = []
		files = glob.glob('/etc/apt/sources.list') + glob.glob('/etc/apt/sources.list.d/*.list')
		for f in files:
		    for line in open(f):
		        m = re.match(r'\s*deb\s+(\[([^]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)', line)
		        if m:
		            opts = dict(o.split('=', 1) for o in (m.group(2) or '').split() if '=' in o)
		            stanzas.append({'URIs': m.group(3), 'Suites': m.group(4),
		                            'Components': m.group(5).split('#')[0].strip(),
		                            'Signed-By': opts.get('signed-by', '')})
		for f in glob.glob('/etc/apt/sources.list.d/*.sources'):
		    for block in re.split(r'\n\s*\n', open(f).read()):
		        fields = {}
		        for line in block.splitlines():
		            m = re.match(r'([A-Za-z-]+):\s*(.*)', line)
		            if m:
		                fields[m.group(1)] = m.group(2).strip()
		        if 'deb' in fields.get('Types', '').split() and fields.get('Enabled', 'yes') != 'no':
		            stanzas.append(fields)
		with open(out, 'w') as o:
		    o.write('# Written by iceprobe tools/windows/sysroot.sh: the deb-src twins of the Debian entries.\n')
		    for s in stanzas:
		        if not any(x.startswith(codename) for x in s.get('Suites', '').split()):
		            continue
		        o.write('\nTypes: deb-src\n')
		        for k in ('URIs', 'Suites', 'Components', 'Signed-By'):
		            if s.get(k):
		                o.write('%s: %s\n' % (k, s[k]))
	EOF
	say "deb-src entries written to $out; apt-get update"
	apt-get update -q >&2
}

# dsc_of PACKAGE VERSION: the .dsc's path (the version without its epoch).
dsc_of() { echo "$SRC/${1}_${2#*:}.dsc"; }

# dsc_complete DSC: the .dsc and every file it lists are present.
dsc_complete() {
	local f
	[ -f "$1" ] || return 1
	while read -r f; do
		[ -f "$SRC/$f" ] || return 1
	done < <(awk '/^Files:/{on=1; next} !/^ /{on=0} on && NF == 3 {print $3}' "$1")
}

# fetch_sources: download what is missing (apt-get source --download-only PACKAGE=VERSION).
# A package whose files this machine's mirror does not serve can be given by hand as its
# upstream release tarball, SRC/NAME-UPSTREAM.tar.xz; it is then built without Debian's
# patches, and this says so (docs/windows.md: json-glib).
fetch_sources() {
	local entry pkg ver
	mkdir -p "$SRC"
	for entry in "${SOURCES[@]}"; do
		read -r pkg ver <<<"$entry"
		dsc_complete "$(dsc_of "$pkg" "$ver")" && continue
		say "downloading the source package $pkg $ver"
		(cd "$SRC" && apt-get source -q --download-only "$pkg=$ver" >&2) && continue
		upstream_tarball "$pkg" "$ver" >/dev/null ||
			die "the mirror does not serve $pkg $ver in full, and no $SRC/$pkg-${ver%-*}.tar.* is given instead"
		echo "sysroot: WARNING: $pkg $ver: Debian's source package is not served here; using" \
			"$(upstream_tarball "$pkg" "$ver") without Debian's patches" >&2
	done
}

upstream_tarball() {
	local t
	for t in "$SRC/$1-${2%-*}".tar.*; do
		[ -f "$t" ] && echo "$t" && return 0
	done
	return 1
}

# unpack PACKAGE VERSION: a fresh patched tree in $WORK; prints its path.
unpack() {
	local dsc
	dsc=$(dsc_of "$1" "$2")
	rm -rf "${WORK:?}/$1"
	if dsc_complete "$dsc"; then
		# dpkg-source applies debian/patches (what apt-get source does after downloading).
		# It cannot check the uploader's signature (no debian-keyring) and says so; the
		# files' checksums it does check, and apt checked them against the signed index.
		(cd "$WORK" && dpkg-source -q -x "$dsc" "$1" >&2)
	else
		mkdir -p "$WORK/$1"
		tar -xf "$(upstream_tarball "$1" "$2")" -C "$WORK/$1" --strip-components=1
	fi
	echo "$WORK/$1"
}

# The compiler for autotools and OpenSSL: the win32-thread-model gcc (see the cross file).
autotools_env() {
	export CC=$HOST-gcc-win32 AR=$HOST-gcc-ar-win32 RANLIB=$HOST-gcc-ranlib-win32
	export CFLAGS="-O2 -pipe" CPPFLAGS="-I$SYSROOT/include" LDFLAGS="-L$SYSROOT/lib"
	export PKG_CONFIG=$HOST-pkg-config PKG_CONFIG_LIBDIR=$SYSROOT/lib/pkgconfig
}

configure_static() { ./configure --host=$HOST --prefix="$SYSROOT" --libdir="$SYSROOT/lib" \
	--disable-shared --enable-static --disable-dependency-tracking "$@"; }

meson_static() {
	local src=$1
	shift
	meson setup "$src/_build" "$src" --cross-file "$INI" --cross-file "$SYSROOT/meson-sysroot.ini" \
		--prefix="$SYSROOT" --libdir=lib -Ddefault_library=static -Doptimization=2 -Ddebug=false \
		--wrap-mode=nodownload "$@"
	meson compile -C "$src/_build" -j 1
	meson install -C "$src/_build" --no-rebuild
}

# (Autotools) Debian's patches touch configure.ac / Makefile.am; Debian then runs
# autoreconf. Where the patched parts do not matter for a static mingw build (gettext:
# the shared library's link line and Java), the shipped generated files are kept and made
# newer than their inputs, so that make does not try to re-run automake.
keep_generated_files() {
	local stamp
	stamp=$(mktemp)
	find "$1" \( -name configure -o -name aclocal.m4 -o -name 'Makefile.in' -o -name 'config.h.in' \) \
		-exec touch -r "$stamp" {} +
	rm -f "$stamp"
}

# ---- one function per package: build_PACKAGE TREE, in the tree, installing into $SYSROOT ----

# zlib: Debian's own mingw build (libz-mingw-w64-dev). Copied in, with a .pc of our own:
# its .pc points at /usr/x86_64-w64-mingw32, whose lib/ also holds libz.dll.a, which GNU ld
# would take before libz.a (a zlib1.dll at run time) whenever -static is not given.
build_zlib() {
	local d=/usr/$HOST
	install -m 644 "$d/include/zlib.h" "$d/include/zconf.h" "$SYSROOT/include/"
	install -m 644 "$d/lib/libz.a" "$SYSROOT/lib/"
	cat >"$SYSROOT/lib/pkgconfig/zlib.pc" <<-PC
		prefix=$SYSROOT
		libdir=\${prefix}/lib
		includedir=\${prefix}/include
		Name: zlib
		Description: zlib compression library (Debian libz-mingw-w64-dev $(dpkg-query -W -f='${Version}' libz-mingw-w64-dev))
		Version: $(sed -n 's/^#define ZLIB_VERSION "\(.*\)"/\1/p' "$d/include/zlib.h")
		Libs: -L\${libdir} -lz
		Cflags: -I\${includedir}
	PC
}

# libffi: plain autotools. GLib defines FFI_STATIC_BUILD itself (glibconfig.h) when static,
# which keeps ffi.h from declaring its functions dllimport.
# Debian's patch to libffi.pc.in drops "-L${libdir}" (Debian's libdir is searched anyway);
# here it is not, and Meson, asked for a static libffi, warns that it cannot find libffi.a:
# put it back.
build_libffi() {
	configure_static --disable-docs --disable-multi-os-directory
	make -j1
	make install
	# shellcheck disable=SC2016 # ${libdir} is pkg-config's
	sed -i 's|^Libs: -lffi|Libs: -L${libdir} -lffi|' "$SYSROOT/lib/pkgconfig/libffi.pc"
}

# pcre2: only the 8-bit library, with the JIT as Debian has it. A static pcre2 needs
# -DPCRE2_STATIC in its users on Windows: libpcre2-8.pc's Cflags.private carries it and
# GLib's meson.build checks for it (use_pcre2_static_flag).
build_pcre2() {
	configure_static --enable-pcre2-8 --disable-pcre2-16 --disable-pcre2-32 --enable-jit \
		--disable-pcre2grep-libz --disable-pcre2grep-libbz2 --disable-pcre2test-libreadline
	make -j1 libpcre2-8.la
	make install-libLTLIBRARIES install-nodist_includeHEADERS install-pkgconfigDATA
}

# gettext: only libintl (GLib requires one, even with NLS off; Debian has no
# proxy-libintl). gettext-runtime alone is configured and only intl/ is built.
# No iconv on Windows here: libintl then does no charset conversion (GLib has its own
# win_iconv for its g_convert). Windows threads, not winpthreads (see the cross file).
build_gettext() {
	keep_generated_files .
	cd gettext-runtime
	configure_static --disable-java --disable-csharp --disable-libasprintf --disable-c++ \
		--disable-openmp --enable-threads=windows --without-libiconv-prefix --without-emacs \
		--without-bzip2 --without-xz am_cv_func_iconv=no
	make -j1 -C intl
	make -C intl install
}

# GLib: everything optional off (tests, man, gtk-doc, NLS, libmount, SELinux, xattr,
# sysprof, libelf). Static GLib on Windows initialises from a constructor and a TLS
# callback instead of DllMain (glib-init.c), and its .pc files carry
# -DGLIB_STATIC_COMPILATION / -DGIO_STATIC_COMPILATION for the users.
# prefer_static=false here only: GLib finds libintl with Meson's 'intl' dependency, whose
# find_library, when static libraries are preferred, looks only in the compiler's own
# directories (not in -L ones) and so misses $SYSROOT/lib/libintl.a; with shared
# preferred it tries a link with -lintl, which finds it (only .a files are there).
# GLib's other dependencies (libffi, pcre2, zlib) have no private libraries to miss.
build_glib2.0() {
	meson_static . -Dprefer_static=false -Dtests=false -Dinstalled_tests=false -Dman=false -Dgtk_doc=false \
		-Dnls=disabled -Dlibmount=disabled -Dselinux=disabled -Dxattr=false -Dsysprof=disabled \
		-Dlibelf=disabled -Ddtrace=false -Dsystemtap=false
}

# OpenSSL: the mingw64 target, libraries only (build_libs, install_dev: no apps, no docs;
# 3.0's Configure has no "no-apps", 3.2's has), providers built in (no-module: nothing to
# load from disk).
# OPENSSLDIR is compiled in and is where openssl.cnf and the default CA file are looked
# for. The mingw targets default it to $prefix/ssl, which on Windows would name a
# directory any user may create (CVE-2019-1552); it is set to the same place as
# OpenSSL's own Windows builds use, writable only by administrators. The agent does not
# rely on it: libcurl is told to use the Windows certificate store (CURLSSLOPT_NATIVE_CA)
# or the profile's CA file.
build_openssl() {
	./Configure mingw64 --cross-compile-prefix=$HOST- CC=gcc-win32 AR=gcc-ar-win32 \
		RANLIB=gcc-ranlib-win32 --prefix="$SYSROOT" --libdir=lib \
		"--openssldir=C:/Program Files/Common Files/SSL" no-shared no-module no-tests -O2
	make -j1 build_libs
	make install_dev
}

# libsrtp2: its Meson build (Debian uses the autotools one; its patches touch only tests,
# README and Makefile.in), with OpenSSL as Debian has it (--enable-openssl).
build_libsrtp2() {
	meson_static . -Dcrypto-library=openssl -Dtests=disabled -Ddoc=disabled -Dpcap-tests=disabled \
		-Dfuzzer=disabled
}

build_json-glib() {
	meson_static . -Dintrospection=disabled -Dgtk_doc=disabled -Dman=false -Dtests=false
}

# curl: the OpenSSL flavour. dpkg-source applies all of debian/patches, and the last two
# (90_gnutls, 99_nss) turn the tree into Debian's GnuTLS and NSS flavours: they are
# reversed here as debian/rules does (quilt pop twice), then autoreconf as dh does.
# Only HTTP(S): the agent's client. No CA bundle or path compiled in (see OpenSSL).
# PKG_CONFIG with --static: configure takes OpenSSL's libraries from pkg-config and would
# otherwise miss the Windows ones a static libcrypto needs (ws2_32, crypt32).
build_curl() {
	local p
	for p in 99_nss.patch 90_gnutls.patch; do
		patch -R -p1 -s <"debian/patches/$p"
	done
	autoreconf -fi >/dev/null
	PKG_CONFIG="$HOST-pkg-config --static" configure_static --with-openssl="$SYSROOT" \
		--without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2 \
		--without-nghttp2 --without-libssh2 --without-librtmp --without-ca-bundle --without-ca-path \
		--disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
		--disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
		--disable-ftp --disable-file --disable-manual --disable-ntlm-wb --enable-ipv6
	make -j1 -C lib
	make -C lib install
	make -C include install
	make install-pkgconfigDATA
}

# libnice: GLib/GIO only (no GUPnP-IGD, no GStreamer elements), OpenSSL for its crypto
# (the auto choice on Windows would be the Windows CryptoAPI; the Linux build uses
# OpenSSL, and the same library on both keeps TURN's message integrity the same code).
build_libnice() {
	meson_static . -Dcrypto-library=openssl -Dgupnp=disabled -Dgstreamer=disabled \
		-Dexamples=disabled -Dtests=disabled -Dgtk_doc=disabled -Dintrospection=disabled
}

# ---- the sysroot ----

sysroot_hash() {
	{
		cat "$0" "$INI"
		printf '%s\n' "${SOURCES[@]}"
		dpkg-query -W "${TOOLCHAIN[@]}"
	} | sha256sum | cut -c1-16
}

write_meson_file() {
	cat >"$SYSROOT/meson-sysroot.ini" <<-INI
		# Written by tools/windows/sysroot.sh: the second cross file, after
		# tools/windows/x86_64-w64-mingw32.ini. Where this sysroot's libraries are.
		[properties]
		pkg_config_libdir = ['$SYSROOT/lib/pkgconfig']

		[built-in options]
		# For what pkg-config does not describe: libintl (found by meson's 'intl' dependency).
		c_args = ['-I$SYSROOT/include']
		c_link_args = ['-L$SYSROOT/lib']
		prefer_static = true
		default_library = 'static'
	INI
}

# build_one PACKAGE [VERSION]: unpack, build, install, log and time it, once.
build_one() {
	local pkg=$1 ver=${2:-} start rc log=$LOGS/$1.log
	[ -f "$SYSROOT/.done-$pkg" ] && return 0
	say "building $pkg ${ver:-(the Debian mingw-w64 build)} (log: $log)"
	start=$(date +%s)
	# In a subshell of its own, not in a condition: a condition would switch errexit off
	# inside the build function, and a failed step would go unnoticed.
	set +e
	(
		set -e
		tree=$WORK
		[ -z "$ver" ] || tree=$(unpack "$pkg" "$ver")
		cd "$tree"
		autotools_env
		"build_$pkg"
	) >"$log" 2>&1
	rc=$?
	set -e
	if [ "$rc" != 0 ]; then
		tail -n 40 "$log" >&2
		die "$pkg failed; the whole log is $log"
	fi
	[ -n "$ver" ] && rm -rf "${WORK:?}/$pkg"
	printf '%-10s %5d s\n' "$pkg" $(($(date +%s) - start)) >>"$SYSROOT/times.txt"
	touch "$SYSROOT/.done-$pkg"
}

main() {
	local hash entry pkg ver start
	ensure_packages
	hash=$(sysroot_hash)
	SYSROOT=${ICEPROBE_WIN_SYSROOT:-$CACHE/sysroot-$hash}
	hash=${SYSROOT##*/sysroot-}
	if [ -f "$SYSROOT/.complete" ]; then
		echo "$SYSROOT"
		return 0
	fi
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9 # another build of the same sysroot finishes first
	if [ -f "$SYSROOT/.complete" ]; then
		echo "$SYSROOT"
		return 0
	fi
	renice -n 19 -p $$ >/dev/null # the builds below inherit it
	enable_deb_src
	fetch_sources
	LOGS=$CACHE/logs-$hash
	WORK=$CACHE/work-$hash
	mkdir -p "$SYSROOT/include" "$SYSROOT/lib/pkgconfig" "$LOGS" "$WORK"
	write_meson_file
	start=$(date +%s)
	build_one zlib
	for entry in "${SOURCES[@]}"; do
		read -r pkg ver <<<"$entry"
		build_one "$pkg" "$ver"
	done
	# What no build of ours needs: manuals, docs, libtool archives (absolute paths), and the
	# Windows programs the packages build whether asked or not (gio.exe, gdbus.exe,
	# json-glib-format.exe, stund.exe...: 5 MB each, statically linked). GLib's
	# gspawn-win64-helper*.exe stay: g_spawn on Windows runs them from beside the program.
	rm -rf "$SYSROOT/share/man" "$SYSROOT/share/doc" "$SYSROOT/share/info" "$SYSROOT/share/gtk-doc"
	find "$SYSROOT/lib" -name '*.la' -delete
	find "$SYSROOT/bin" -name '*.exe' ! -name 'gspawn-*' -delete
	printf '%s\n' "${SOURCES[@]}" >"$SYSROOT/versions.txt"
	dpkg-query -W "${TOOLCHAIN[@]}" >>"$SYSROOT/versions.txt"
	printf '%-10s %5d s (this run; load average before: %s)\n' total $(($(date +%s) - start)) \
		"$LOAD_BEFORE" >>"$SYSROOT/times.txt"
	rm -rf "${WORK:?}"
	touch "$SYSROOT/.complete"
	say "sysroot ready: $SYSROOT ($(du -sh "$SYSROOT" | cut -f1))"
	echo "$SYSROOT"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
case "${1:-}" in
"") main ;;
*)
	sed -n '2,5p' "$0" >&2
	exit 3
	;;
esac
