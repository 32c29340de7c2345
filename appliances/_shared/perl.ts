/**
 * Keeps Perl's module library out of an image. Some Debian packages pull the full `perl` package
 * for a few helper scripts that appliances never run (memcached-tool, squid's DBI helpers):
 * its modules (perl-modules-5.x, libperl5.x: about 48 MiB unpacked on Debian 13) are then not
 * unpacked. `/usr/bin/perl` and the modules of `perl-base` (Essential, used by debconf and
 * maintainer scripts) stay. The package state stays consistent: the files are just not unpacked.
 * @module
 */
import type { ApplianceAction } from '../../lib/compile/model.ts';

/** The dpkg configuration written before any package is installed. */
const DPKG_EXCLUDE = `# Written by the appliance (appliances/_shared/perl.ts): no Perl module library.
# perl-base (/usr/bin/perl and its own modules) stays; remove this file to get the rest back.
path-exclude=/usr/share/perl/*
path-exclude=/usr/lib/*/perl/*
path-exclude=/usr/lib/*/libperl.so*
`;

/** A `post-unpack` action that keeps Perl's module library out of the image (see the module doc). */
export function withoutPerlModules(): ApplianceAction {
  return {
    trigger: 'post-unpack',
    script: `#!/bin/sh\nset -eu\nmkdir -p /etc/dpkg/dpkg.cfg.d\ncat > /etc/dpkg/dpkg.cfg.d/03-appliance-no-perl-modules <<'EOF'\n${DPKG_EXCLUDE}EOF\n`,
  };
}
