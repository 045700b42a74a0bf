#!/usr/bin/env bash
# The MSI (dist/windows/iceprobe.wxs, built with Debian's wixl): its tables as msiinfo
# reads them, then under Wine's msiexec, in a Wine prefix of its own: refused without
# CONTROLLER=, installed with it (iceprobe.exe in ProgramFiles\iceprobe, ProgramData\iceprobe,
# the service iceprobe-agent registered for a manual start with the controller in its
# arguments), the service started with a token placed and stopped, an upgrade that keeps
# the controller (a running service stopped for it), one that is given a new controller,
# and msiexec /x removing it all but ProgramData's files. Suite 'windows'.
# Usage: tests/msi-windows.sh WINE-RUN PREFIX ICEPROBE.MSI ICEPROBE.EXE SVCQUERY.EXE WXS VERSION
set -u
. "$(dirname "$0")/lab/assert.sh"
ASSERT_NAME=msi-windows # assert_summary's
WINE_RUN=$1 PREFIX=$2 MSI=$(realpath "$3") EXE=$(realpath "$4") QUERY=$(realpath "$5") WXS=$(realpath "$6") VERSION=$7
SERVICE=iceprobe-agent
UPGRADE_CODE='{6dc0c491-469d-43c8-9afe-8ccc905ca19f}'
dir=$(mktemp -d /tmp/iceprobe-msi-windows.XXXXXX)
. "$(dirname "$0")/windows/wine-service.sh"
msiexec_() { # ARGS...: msiexec's exit status (Wine's, 8 bits: 1603 is 67)
	"$WINE_RUN" "$PREFIX" msiexec "$@" >>"$dir/msiexec.out" 2>&1
}
table() { msiinfo export "$MSI" "$1" | tail -n +4 | tr -d '\r'; }
row() { table "$1" | grep -E -- "^$2"$'\t' | head -1; }
cleanup() {
	wine_ sc stop "$SERVICE" >/dev/null
	release_prefix
	WINEPREFIX=$PREFIX wineserver -k 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

section "the package's tables (msiinfo)"
tables=$(msiinfo tables "$MSI" | tr -d '\r')
for t in File Component Directory ServiceInstall ServiceControl CreateFolder Property Registry \
	AppSearch RegLocator CustomAction LaunchCondition Upgrade; do
	assert_match "it has the table $t" "$tables" "^$t\$"
done
size=$(stat -c %s "$EXE")
assert_eq "File: iceprobe.exe, the build's, vital" "$(row File IceprobeExe | cut -f2-5,7)" \
	"$(printf 'Exe\ticeprobe.exe\t%s\t\t512' "$size")"
assert_eq "Component: the program, 64-bit, in INSTALLDIR" "$(row Component Exe | cut -f3-4,6)" \
	"$(printf 'INSTALLDIR\t256\tIceprobeExe')"
assert_eq "Component: ProgramData's folder" "$(row Component Data | cut -f3-4)" "$(printf 'DATADIR\t256')"
assert_eq "Directory: ProgramFiles\\iceprobe" "$(row Directory INSTALLDIR)" \
	"$(printf 'INSTALLDIR\tProgramFiles64Folder\ticeprobe')"
assert_eq "Directory: ProgramData\\iceprobe" "$(row Directory DATADIR)" \
	"$(printf 'DATADIR\tCommonAppDataFolder\ticeprobe')"
assert_eq "CreateFolder: ProgramData\\iceprobe" "$(row CreateFolder DATADIR)" "$(printf 'DATADIR\tData')"
# ServiceInstall: own process (16), demand start (3), normal errors (1), LocalSystem.
assert_eq "ServiceInstall: iceprobe-agent, manual, LocalSystem, the controller in its arguments" \
	"$(row ServiceInstall AgentService | cut -f2,4-6,9,11-12)" \
	"$(printf 'iceprobe-agent\t16\t3\t1\tLocalSystem\tagent --service --controller "[CONTROLLER]" --token-file "[CommonAppDataFolder]iceprobe\\token"\tExe')"
# ServiceControl: stop on install and uninstall (2 | 32), delete on uninstall (128); wait.
assert_eq "ServiceControl: stopped for install and uninstall, removed with the product" \
	"$(row ServiceControl AgentControl | cut -f2-3,5-6)" "$(printf 'iceprobe-agent\t162\t1\tExe')"
assert_eq "Property: the version" "$(row Property ProductVersion | cut -f2)" "$VERSION"
assert_eq "Property: the upgrade code" "$(row Property UpgradeCode | cut -f2)" "$UPGRADE_CODE"
assert_eq "Registry: the controller saved" "$(row Registry 'reg[0-9A-F]+' | cut -f2-6)" \
	"$(printf '2\tSoftware\\iceprobe\tController\t[CONTROLLER]\tSettings')"
assert_eq "CONTROLLER is required on a first install" "$(table LaunchCondition | grep -c '^Installed OR CONTROLLER')" 1
assert_eq "a \" in CONTROLLER is refused (it would add service arguments)" \
	"$(table LaunchCondition | grep -c '^NOT (CONTROLLER >< QUOTE_CHAR)'$'\t')" 1
assert_eq "Property: the quote it is compared with" "$(row Property QUOTE_CHAR | cut -f2)" '"'
assert_eq "an upgrade takes the saved one, after AppSearch" \
	"$(row InstallExecuteSequence RestoreController | cut -f2-3)" "$(printf 'SAVED_CONTROLLER AND NOT CONTROLLER\t51')"
assert_eq "the product before goes before this one installs" \
	"$(row InstallExecuteSequence RemoveExistingProducts | cut -f3)" 1401

section "msiexec /i under Wine"
# A new prefix each time: what an earlier run installed would be an upgrade.
WINEPREFIX=$PREFIX wineserver -k 2>/dev/null
rm -rf "$PREFIX"
wine_ cmd /c exit >/dev/null # the prefix, made on first use
hold_prefix
PROGRAM="$PREFIX/drive_c/Program Files/iceprobe/iceprobe.exe"
DATA="$PREFIX/drive_c/ProgramData/iceprobe"
msiexec_ /i "$(winpath "$MSI")" /qn
assert_eq "without CONTROLLER= it is refused (1603)" "$?" 67
assert_eq "and nothing is installed" "$(query)/$([ -e "$PROGRAM" ] && echo there)" "absent/"
msiexec_ /i "$(winpath "$MSI")" /qn CONTROLLER=https://127.0.0.1:9
assert_eq "with CONTROLLER= it installs" "$?" 0
assert_ok "iceprobe.exe is in ProgramFiles\\iceprobe, the build's" cmp -s "$PROGRAM" "$EXE"
assert_ok "ProgramData\\iceprobe is made" test -d "$DATA"
assert_match "the service is registered, manual, with the controller" "$(query)" \
	'^state=STOPPED .*start=demand path="?C:\\Program Files\\iceprobe\\iceprobe\.exe"? agent --service --controller "https://127\.0\.0\.1:9" --token-file "C:\\ProgramData\\iceprobe\\token"$'
assert_match "the controller is saved for upgrades" \
	"$(wine_ reg query 'HKLM\Software\iceprobe' /v Controller)" 'Controller +REG_SZ +https://127\.0\.0\.1:9'

section "the installed service, started and stopped"
printf 'msi-windows-token-0123456789ab\n' >"$DATA/token"
wine_ sc start "$SERVICE" >/dev/null
assert_match "it runs once its token is placed" "$(wait_state RUNNING 30)" "^state=RUNNING "
LOG=$DATA/agent.log
wait_log "$LOG" 'heartbeat failed' 30
assert_match "its agent calls the controller the MSI was given" "$(cat "$LOG" 2>/dev/null)" \
	"starting: controller https://127\.0\.0\.1:9, spool C:\\\\ProgramData\\\\iceprobe\\\\spool"
assert_match "its program path is quoted now (Wine's msiexec does not)" "$(query)" \
	'path="C:\\Program Files\\iceprobe\\iceprobe\.exe" agent'

section "upgrades"
# wixl 0.101 takes a File's Source relative to the current directory only.
msi_of() { (cd "$(dirname "$EXE")" && wixl -a x64 -D "Version=$1" -D "Exe=$(basename "$EXE")" -o "$2" "$WXS"); }
msi_of 99.0.0 "$dir/up1.msi" 2>>"$dir/wixl.err"
msiexec_ /i "$(winpath "$dir/up1.msi")" /qn
assert_eq "an upgrade without CONTROLLER= installs, over the running service" "$?" 0
assert_match "the service was stopped for it and is there again" "$(wait_state STOPPED 20)" "^state=STOPPED "
assert_match "with the controller saved before" "$(query)" '--controller "https://127\.0\.0\.1:9"'
uninstall=$(wine_ reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s)
assert_eq "one iceprobe is installed, the new one" \
	"$(printf '%s\n' "$uninstall" | grep -cE 'DisplayName +REG_SZ +iceprobe$')/$(printf '%s\n' "$uninstall" | grep -oE 'DisplayVersion +REG_SZ +(99\.0\.0|'"$VERSION"')$' | awk '{print $3}' | sort -u | tr '\n' ' ')" \
	"1/99.0.0 "
msi_of 99.0.1 "$dir/up2.msi" 2>>"$dir/wixl.err"
msiexec_ /i "$(winpath "$dir/up2.msi")" /qn CONTROLLER=https://127.0.0.1:10
assert_eq "an upgrade given a new CONTROLLER= installs" "$?" 0
assert_match "and the new controller is the service's" "$(query)" '--controller "https://127\.0\.0\.1:10"'

section "msiexec /x"
msiexec_ /x "$(winpath "$dir/up2.msi")" /qn
assert_eq "it uninstalls" "$?" 0
assert_eq "the service is gone" "$(query)" absent
assert_eq "the program is gone" "$([ -e "$PROGRAM" ] && echo there)" ""
"$WINE_RUN" "$PREFIX" reg query 'HKLM\Software\iceprobe' >/dev/null 2>&1
assert_ne "the saved controller is gone" "$?" 0
assert_ok "ProgramData\\iceprobe keeps the token" test -f "$DATA/token"
assert_ok "and the log" test -f "$LOG"

assert_summary
