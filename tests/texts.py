"""Real text the tests share: excerpts of Debian copyright files, Dickens, licence notices, each
with what it must give where a test says so (``*_SHAPE``: the paragraphs it splits into)."""

DICKENS = """\
It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness, it was the epoch of belief, it
was the epoch of incredulity, it was the season of Light, it was the
season of Darkness, it was the spring of hope, it was the winter of
despair.

There were a king with a large jaw and a queen with a plain face, on
the throne of England; there were a king with a large jaw and a queen
with a fair face, on the throne of France.
"""


LIBWEBP7 = """\
This work was packaged for Debian by:

    Jeff Breidenbach <jab@debian.org> on Mon, 28 Feb 2011 17:25:17 -0800

It was downloaded from <http://webp.googlecode.com>

Upstream Author:

    Pascal Massimino <pascal.massimino@gmail.com>

Copyright:

    Copyright (C) 2010, Google Inc. All rights reserved.

License:

    Redistribution and use in source and binary forms, with or without
    modification, are permitted provided that the following conditions are
    met:

      * Redistributions of source code must retain the above copyright
        notice, this list of conditions and the following disclaimer.
    
      * Redistributions in binary form must reproduce the above copyright
        notice, this list of conditions and the following disclaimer in
        the documentation and/or other materials provided with the
        distribution.
    
      * Neither the name of Google nor the names of its contributors may
        be used to endorse or promote products derived from this software
        without specific prior written permission.
    
    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
    "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
    LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
    A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
    HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
    SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
    LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
    DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
    THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
    (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
    OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
    
The Debian packaging is:

    Copyright (C) 2011 Jeff Breidenbach <jab@debian.org>

and is licensed under Apache-2.0
see `/usr/share/common-licenses/Apache-2.0'.
"""


LIBWEBP7_SHAPE = [
    '1 This work was packaged',
    '3 Jeff Breidenbach <jab@debian.org> on',
    '5 It was downloaded from',
    '7 Upstream Author:',
    '9 Pascal Massimino <pascal.massimino@gmail.com>',
    '11 Copyright:',
    '13 Copyright (C) 2010, Google',
    '15 License:',
    '17-19 Redistribution and use in',
    '21-22 * Redistributions of source',
    '24-27 * Redistributions in binary',
    '29-31 * Neither the name',
    '33-43 THIS SOFTWARE IS PROVIDED',
    '45 The Debian packaging is:',
    '47 Copyright (C) 2011 Jeff',
    '49 and is licensed under',
    "50 see `/usr/share/common-licenses/Apache-2.0'.",
]


BASH_Y_TAB = """\
Files: y.tab.*
Copyright: (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation,
   Inc.
License: GPL-3+ with Bison exception
   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.
 .
   This program is distributed in the hope that it will be useful,
   but WITHOUT ANY WARRANTY; without even the implied warranty of
   MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
   GNU General Public License for more details.
 .
   You should have received a copy of the GNU General Public License
   along with this program.  If not, see <https://www.gnu.org/licenses/>.
 .
   As a special exception, you may create a larger work that contains
   part or all of the Bison parser skeleton and distribute that work
   under terms of your choice, so long as that work isn't itself a
   parser generator using the skeleton or a modified version thereof
   as a parser skeleton.  Alternatively, if you modify or redistribute
   the parser skeleton itself, you may (at your option) remove this
   special exception, which will cause the skeleton and the resulting
   Bison output files to be licensed under the GNU General Public
   License without this special exception.
 .
   This special exception was added by the Free Software Foundation in
   version 2.2 of Bison.
Comment:
 On Debian systems, the complete text of the GNU General Public License
 version 3 can be found in `/usr/share/common-licenses/GPL-3'.

Files:
 examples/functions/array-stuff
 examples/functions/fstty
 examples/functions/func
 examples/functions/inetaddr"""


BASH_Y_TAB_SHAPE = [
    '1 Files: y.tab.*',
    '2-3 Copyright: (C) 1984, 1989-1990,',
    '4 License: GPL-3+ with Bison',
    '5-8 This program is free',
    '9 .',
    '10-13 This program is distributed',
    '14 .',
    '15-16 You should have received',
    '17 .',
    '18-26 As a special exception,',
    '27 .',
    '28-29 This special exception was',
    '30 Comment:',
    '31-32 On Debian systems, the',
    '34 Files:',
    '35 examples/functions/array-stuff',
    '36 examples/functions/fstty',
    '37 examples/functions/func',
    '38 examples/functions/inetaddr',
]


LIBDAEMON0 = """\
This package was debianized by Oliver Kurth <oku@debian.org> on
Fri, 11 Jul 2003 22:03:30 +0200.

It was downloaded from http://0pointer.de/lennart/projects/libdaemon/

Upstream Author:

    Lennart Poettering <mzqnrzba (at) 0pointer (dot) de>

Copyright:

    Copyright (C) 2003-2009 Lennart Poettering <mzqnrzba (at) 0pointer (dot) de>

License:

    libdaemon is free software; you can redistribute it and/or modify
    it under the terms of the GNU Lesser General Public License as
    published by the Free Software Foundation; either version 2.1 of
    the License, or (at your option) any later version.

    libdaemon is distributed in the hope that it will be useful, but
    WITHOUT ANY WARRANTY; without even the implied warranty of
    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
    Lesser General Public License for more details.

    You should have received a copy of the GNU Lesser General Public
    License the Debian GNU/Linux distribution in the file
    /usr/share/common-licenses/LGPL; if not, write to the Free Software
    Foundation, Inc., 51 Franklin St, Fifth Floor, Boston, MA 02110-1301 USA

The Debian packaging is
Copyright (C) 2003-2007, Oliver Kurth <oku@debian.org>
Copyright (C) 2007-2008, Y Giridhar Appaji Nag <giridhar@appaji.net> and
is licensed under the GNU GPL, either version 2 of the License, or (at
your option) any later version; see `/usr/share/common-licenses/GPL-2'."""


LIBDAEMON0_SHAPE = [
    '1-2 This package was debianized',
    '4 It was downloaded from',
    '6 Upstream Author:',
    '8 Lennart Poettering <mzqnrzba (at)',
    '10 Copyright:',
    '12 Copyright (C) 2003-2009 Lennart',
    '14 License:',
    '16-19 libdaemon is free software;',
    '21-24 libdaemon is distributed in',
    '26-29 You should have received',
    '31 The Debian packaging is',
    '32 Copyright (C) 2003-2007, Oliver',
    '33-35 Copyright (C) 2007-2008, Y',
]


FONTCONFIG = """\
This package was debianized by Colin Walters <walters@debian.org> on
Sun, 13 Oct 2002 15:01:50 -0400

It was downloaded from http://www.fontconfig.org/

Upstream Author: Keith Packard

Copyright:

Copyright © 2001,2003 Keith Packard

Permission to use, copy, modify, distribute, and sell this software and its
documentation for any purpose is hereby granted without fee, provided that
the above copyright notice appear in all copies and that both that
copyright notice and this permission notice appear in supporting
documentation, and that the name of Keith Packard not be used in
advertising or publicity pertaining to distribution of the software without
specific, written prior permission.  Keith Packard makes no
representations about the suitability of this software for any purpose.  It
is provided "as is" without express or implied warranty.

KEITH PACKARD DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE,
INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS, IN NO
EVENT SHALL KEITH PACKARD BE LIABLE FOR ANY SPECIAL, INDIRECT OR
CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE,
DATA OR PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER
TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR
PERFORMANCE OF THIS SOFTWARE."""


FONTCONFIG_SHAPE = [
    '1-2 This package was debianized',
    '4 It was downloaded from',
    '6 Upstream Author: Keith Packard',
    '8 Copyright:',
    '10 Copyright © 2001,2003 Keith',
    '12-20 Permission to use, copy,',
    '22-28 KEITH PACKARD DISCLAIMS ALL',
]


LIBQUADMATH0 = """\
remaining files:

 * Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
 *
 * Developed at SunPro, a Sun Microsystems, Inc. business.
 * Permission to use, copy, modify, and distribute this
 * software is freely granted, provided that this notice
 * is preserved."""


LIBQUADMATH0_SHAPE = [
    '1 remaining files:',
    '3 * Copyright (C) 1993',
    '4 *',
    '5-8 * Developed at SunPro,',
]


GTK_PO = """\
Files: po/*
       po-properties/*
Copyright: Copyright (C) 1995-2019 Free Software Foundation, Inc.
           Copyright (C) 1999, 2003-2010 The GTK Team
           Copyright (C) 2004 Zuza Software Foundation <info@translate.org.za>
           Copyright (C) 2008-2010 F Wolff <friedel@translate.org.za>"""


GTK_PO_SHAPE = [
    '1 Files: po/*',
    '2 po-properties/*',
    '3 Copyright: Copyright (C) 1995-2019',
    '4 Copyright (C) 1999, 2003-2010',
    '5 Copyright (C) 2004 Zuza',
    '6 Copyright (C) 2008-2010 F',
]


LIBMPC3 = """\
This package was debianized by Laurent Fousse <laurent@komite.net> on
Tue, 14 Oct 2008 16:21:17 +0200.

It was downloaded from <http://www.multiprecision.org/mpc/>

Upstream Author:

    Andreas Enge
    Philippe Théveny
    Paul Zimmermann

Copyright:

    <Copyright (C) 2002-2020 INRIA>

License:

    This library is distributed under the terms of the GNU Lesser General
    Public License as published by the Free Software Foundation; either version
    3 of the License, or (at your option) any later version.

On Debian systems, a copy of the licence is located in file
/usr/share/common-licenses/LGPL-3.

The initial and current Debian packaging was made by Laurent Fousse
<laurent@komite.net> in 2008 and is put into public domain."""


LIBMPC3_SHAPE = [
    '1-2 This package was debianized',
    '4 It was downloaded from',
    '6 Upstream Author:',
    '8 Andreas Enge',
    '9 Philippe Théveny',
    '10 Paul Zimmermann',
    '12 Copyright:',
    '14 <Copyright (C) 2002-2020 INRIA>',
    '16 License:',
    '18-20 This library is distributed',
    '22-23 On Debian systems, a',
    '25-26 The initial and current',
]


GOLDEN = {name: (globals()[name], globals()[name + "_SHAPE"]) for name in
          ("LIBWEBP7", "BASH_Y_TAB", "LIBDAEMON0", "FONTCONFIG", "LIBQUADMATH0", "GTK_PO", "LIBMPC3")}


BASH_MIT_LIKE = """\
License: MIT-like
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies, and that
 * the name of Digital Equipment Corporation not be used in advertising or
 * publicity pertaining to distribution of the document or software without
 * specific, written prior permission.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND DIGITAL EQUIPMENT CORP. DISCLAIMS ALL
 * WARRANTIES WITH REGARD TO THIS SOFTWARE, INCLUDING ALL IMPLIED WARRANTIES
 * OF MERCHANTABILITY AND FITNESS.   IN NO EVENT SHALL DIGITAL EQUIPMENT
 * CORPORATION BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL
 * DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR
 * PROFITS, WHETHER IN AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS
 * ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS
 * SOFTWARE.
"""

# Paragraphs of Debian's copyright files, as ``--split blocks`` gives them: a GPL-2+ stanza, and
# three copies of the GPL-2 notice, one of them with "Library" where the others say nothing.
GPL_STANZA = """\
License: GPL-2+
 This program is free software; you can redistribute it and/or modify it under
 the terms of the GNU General Public License as published by the Free Software
 Foundation; version 2 of the license, or (at your opinion) any later version.
 .
 This program is distributed in the hope that it will be useful, but WITHOUT
 ANY WARRANTY; without even the implied warranty of MERCHANTABILITY or FITNESS
 FOR A PARTICULAR PURPOSE. See the GNU General Public License for more details.
 .
 You should have received a copy of the GNU General Public License along with
 this program; if not, write to the Free Software Foundation, Inc., 51 Franklin
 Street, Fifth Floor, Boston, MA 02110-1301, USA.
 .
 On Debian systems you can find a local copy of the GNU General Public License
 in /usr/share/common-licenses/GPL-2.
"""


PACKAGE_NOTICE = """\
This package is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.
"""


PROGRAM_NOTICE = """\
This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.
"""


LIBRARY_NOTICE = """\
This program is free software; you can redistribute it and/or
modify it under the terms of the GNU Library General Public License
as published by the Free Software Foundation; either version 2
of the License, or (at your option) any later version.
"""


# PROGRAM_NOTICE as one line, and a copy of it broken mid-sentence: its first half reworded,
# an aside put into its second half; neither half is a copy alone (tests/match/test_joined.py)
NOTICE_LINE = " ".join(PROGRAM_NOTICE.split())
NOTICE_FIRST_HALF = "This program is free software: you may redistribute it and/or alter it under the terms"
NOTICE_SECOND_HALF = ("of the GNU General Public License as published by the Free Software Foundation; either version 2 of "
                      "the License, or (at your option) any later version.")
NOTICE_ASIDE = "Reported by the Debian maintainers in 2009."
