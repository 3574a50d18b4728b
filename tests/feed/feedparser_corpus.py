#!/usr/bin/python3
"""bulletin's feed parser against the feedparser corpus ($BL_CORPORA/feedparser).

Each case of cases.tsv is parsed by FEEDDUMP (bl_feed_parse, printed as JSON);
the JSON is mapped onto Python feedparser's result vocabulary (a dict with
attribute access and feedparser's key aliases: feed.title, entries[0].link,
.links, .summary, .content[0].value, .id, bozo, encoding, version ...) and the
case's `expect` expression is evaluated on it. Fields bulletin does not model
are simply absent, so expressions about them disagree; every disagreement is
written to OUT_TSV with a reason category. Prints TAP: one `ok` per group whose
agreement is at or above the floor (a number of cases) measured and fixed below (so a regression
fails), and a summary line. stdlib only.

usage: feedparser_corpus.py FEEDDUMP CORPUS_DIR OUT_TSV
"""
import codecs
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

# Agreement floors: the number of cases per group that must agree (measured;
# see docs/feeds.md "feedparser corpus agreement"). Raise them when the parser
# improves; never lower them to hide a regression.
FLOORS = {
    'encoding': 80, 'illformed': 7, 'illformed/chardet': 0, 'wellformed/amp': 4,
    'wellformed/atom10': 55, 'wellformed/base': 18, 'wellformed/http': 2,
    'wellformed/namespace': 10, 'wellformed/node_precedence': 2, 'wellformed/rdf': 11,
    'wellformed/rss': 63, 'wellformed/xml': 3,
}
OVERALL_FLOOR = 255

HTTP_BASE = 'http://127.0.0.1:8097/'


def unescape(field):
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == '\\' and i + 1 < len(field):
            out.append({'t': '\t', 'n': '\n', 'r': '\r', '\\': '\\'}.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return ''.join(out)


# ------------------------------------------------------------------ feedparser's vocabulary

KEYMAP = {
    'channel': 'feed', 'items': 'entries', 'guid': 'id', 'date': 'updated',
    'date_parsed': 'updated_parsed', 'description': 'summary', 'url': 'href',
    'modified': 'updated', 'modified_parsed': 'updated_parsed', 'issued': 'published',
    'issued_parsed': 'published_parsed', 'copyright': 'rights', 'copyright_detail': 'rights_detail',
    'tagline': 'subtitle', 'tagline_detail': 'subtitle_detail',
    'description_detail': 'summary_detail',
}


class FPDict(dict):
    """feedparser.FeedParserDict: key aliases and attribute access."""

    def __getitem__(self, key):
        if key == 'category':
            return dict.__getitem__(self, 'tags')[0]['term']
        if key == 'enclosures' and not dict.__contains__(self, 'enclosures'):
            return [FPDict(l) for l in self.get('links', []) if l.get('rel') == 'enclosure']
        if key == 'license':
            for l in self.get('links', []):
                if l.get('rel') == 'license':
                    return l['href']
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key == 'description' and dict.__contains__(self, 'subtitle'):
            return dict.__getitem__(self, 'subtitle')
        if key in KEYMAP and dict.__contains__(self, KEYMAP[key]):
            return dict.__getitem__(self, KEYMAP[key])
        raise KeyError(key)

    def __contains__(self, key):
        try:
            self.__getitem__(key)
            return True
        except (KeyError, IndexError):
            return False

    has_key = __contains__

    def get(self, key, default=None):
        try:
            return self.__getitem__(key)
        except (KeyError, IndexError):
            return default

    def __getattr__(self, key):
        try:
            return self.__getitem__(key)
        except KeyError:
            raise AttributeError(key)


class FakeFeedparser:
    """The parts of the feedparser module that expressions name."""

    class ThingsNobodyCaresAboutButMe(Exception):
        pass

    class CharacterEncodingOverride(ThingsNobodyCaresAboutButMe):
        pass

    class CharacterEncodingUnknown(ThingsNobodyCaresAboutButMe):
        pass

    class NonXMLContentType(ThingsNobodyCaresAboutButMe):
        pass

    class UndeclaredNamespace(Exception):
        pass

    ACCEPTABLE_URI_SCHEMES = ('http', 'https', 'ftp', 'mailto')


def parsed_time(t):
    return time.gmtime(t) if t else None


def map_result(o):
    """bulletin's JSON -> feedparser-shaped dict of names for eval()."""
    fp = FakeFeedparser
    feed = FPDict()
    if o['title']:
        feed['title'] = o['title']
        feed['title_detail'] = FPDict(value=o['title'], type='text/plain')
    if o['link']:
        feed['link'] = o['link']
        feed['links'] = [FPDict(rel='alternate', type='text/html', href=o['link'])]
    entries = []
    for it in o['items']:
        e = FPDict()
        if it['title']:
            e['title'] = it['title']
            e['title_detail'] = FPDict(value=it['title'], type='text/plain')
        links = []
        if it['link']:
            e['link'] = it['link']
            links.append(FPDict(rel='alternate', type='text/html', href=it['link']))
        if it['enclosure_url']:
            enc = FPDict(rel='enclosure', href=it['enclosure_url'])
            if it['enclosure_type']:
                enc['type'] = it['enclosure_type']
            links.append(enc)
            e['enclosures'] = [FPDict(href=it['enclosure_url'], type=it['enclosure_type'])]
        if links:
            e['links'] = links
        if it['id']:
            e['id'] = it['id']
        if it['summary']:
            e['summary'] = it['summary']
            e['summary_detail'] = FPDict(value=it['summary'], type='text/html', base=it['base'])
        if it['content']:
            e['content'] = [FPDict(value=it['content'], type='text/html', base=it['base'])]
            if 'summary' not in e:
                e['summary'] = it['content']
        if it['author']:
            e['author'] = it['author']
        if it['published']:
            e['published_parsed'] = parsed_time(it['published'])
            e['published'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', e['published_parsed'])
        if it['updated']:
            e['updated_parsed'] = parsed_time(it['updated'])
            e['updated'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', e['updated_parsed'])
        entries.append(e)
    exc = None
    reason = o.get('bozo_reason', '')
    if o['bozo']:
        if 'but parsed as' in reason:
            exc = fp.CharacterEncodingOverride(reason)
        elif 'not an XML media type' in reason:
            exc = fp.NonXMLContentType(reason)
        else:
            exc = Exception(reason)
    return {
        'bozo': 1 if o['bozo'] else 0, 'bozo_exception': exc, 'feed': feed, 'channel': feed,
        'entries': entries, 'items': entries, 'encoding': o['encoding'],
        'version': o['version'], 'headers': FPDict(), 'namespaces': FPDict(),
        'feedparser': fp,
    }


SAFE_BUILTINS = {
    'len': len, 'ord': ord, 'chr': chr, 'str': str, 'int': int, 'float': float, 'bool': bool,
    'list': list, 'tuple': tuple, 'dict': dict, 'isinstance': isinstance, 'type': type,
    'True': True, 'False': False, 'None': None, 'sorted': sorted, 'min': min, 'max': max,
    'any': any, 'all': all, 'repr': repr, 'bytes': bytes, 'set': set, 'hasattr': hasattr,
    'getattr': getattr, 'Exception': Exception, 'KeyError': KeyError,
}


def safe_import(name, *args):
    if name in ('codecs', 'sys', 'time'):
        return __import__(name)
    raise ImportError(name)


def evaluate(expr, names):
    env = dict(names)
    env['__builtins__'] = dict(SAFE_BUILTINS, __import__=safe_import)
    try:
        return bool(eval(expr, env)), None
    except Exception as exc:  # any failure counts as disagreement
        return False, '%s: %s' % (type(exc).__name__, exc)


def skip_ok(cond):
    if not cond:
        return True
    env = {'__builtins__': dict(SAFE_BUILTINS, __import__=safe_import), 'feedparser': FakeFeedparser}
    try:
        return bool(eval(cond, env))
    except Exception:
        return False


# ------------------------------------------------------------------ reasons

NOT_MODELLED = [
    'source', 'tags', 'category', 'author_detail', 'authors', 'contributors', 'publisher',
    'rights', 'copyright', 'subtitle', 'tagline', 'info', 'generator', 'cloud', 'image',
    'textinput', 'docs', 'ttl', 'license', 'comments', 'wfw_', 'thr_', 'where', 'geo',
    'namespaces', 'headers', 'categories', 'expired', 'validity', 'errorreportsto', 'language',
    'feedburner', 'logo', 'icon', 'href', 'status', 'created', 'guidislink', 'newlocation',
    'rating', 'xml:lang', 'dc_', 'admin_', 'day', 'feeds', 'width', 'height',
]


def reason_for(case, names, expr, err):
    group = case['group']
    e = expr
    # bozo alone?
    if e.startswith('not bozo and ') and names['bozo']:
        ok_wo, _ = evaluate(e[len('not bozo and '):], names)
        if ok_wo:
            if 'declared as' in (names['bozo_exception'] and str(names['bozo_exception']) or ''):
                return 'encoding detection differs (bozo: %s)' % names['bozo_exception']
            return 'bozo where feedparser is not: %s' % re.sub(r'line \d+: ', '', str(names['bozo_exception']))[:70]
    if re.match(r'^\s*bozo\b', e) and not names['bozo']:
        return 'not bozo where feedparser is'
    if 'encoding ==' in e or group == 'encoding':
        return 'encoding detection differs'
    if re.search(r"\betag\b|\bmodified(_parsed)?\b|headers|locals\(\)", e):
        return 'HTTP response fields (ETag, Last-Modified, headers) belong to the fetcher'
    if re.search(r"\['(published|updated|date|issued|modified|created)'\] ==", e) or re.search(r"feed\['(published|updated|date)", e):
        return 'raw date strings and feed-level dates not modelled (item dates are epoch seconds)'
    if re.search(r"\['(length|hreflang|src)'\]|links'\]\[\d\]\['(rel|type|title)'\]", e):
        return 'field not modelled: links other than alternate/enclosure, length, hreflang, src'
    if re.search(r"feed\['(author|id|guid|description|subtitle|tagline|info)'\]", e):
        return 'field not modelled: feed author/id/description'
    if re.search(r"(content'\]\[0\]|_detail')\]?\['type'\]", e):
        return 'text-construct type not modelled (title is plain text, summary/content HTML)'
    if re.search(r"\['(madeup_element|abcdefg)'\]", e):
        return 'field not modelled: arbitrary extension elements'
    for key in NOT_MODELLED:
        if re.search(r"['\".]" + re.escape(key), e):
            k = re.search(r"['\".](" + re.escape(key) + r"[a-z_0-9]*)", e).group(1)
            return 'field not modelled: %s' % k.rstrip("'")
    if "_detail']['type']" in e or '_detail.type' in e:
        return 'text-construct type not modelled (title is plain text, summary/content HTML)'
    if "_detail']['base']" in e or "['base']" in e:
        return 'per-element base not modelled (item.base is the content/summary base)'
    if "_detail']['language']" in e or "['language']" in e:
        return 'field not modelled: language'
    if "['title" in e or '.title' in e:
        if "type=" in case['text'] and ('html' in case['text'] or 'xhtml' in case['text']):
            return 'title is plain text by design (HTML title markup removed)'
        return 'value differs: title'
    if "['content']" in e or "['summary" in e or "['description" in e or '.summary' in e or '.content' in e:
        if re.search(r'(href|src)=\\?["\']http', e):
            return 'relative URIs inside HTML left to the sanitiser (resolved against item.base)'
        if 'base64' in case['text']:
            return 'base64 content not decoded'
        return 'value differs: summary/content'
    if "['link" in e or '.link' in e:
        return 'value differs: link(s)'
    if "_parsed" in e or 'updated' in e or 'published' in e:
        return 'value differs: dates'
    if "['id']" in e or "['guid']" in e or '.id' in e:
        return 'value differs: id'
    if 'version' in e:
        return 'value differs: version'
    if "['author'] ==" in e:
        return 'author is the name alone by design (feedparser adds the address)'
    if err:
        return 'error: ' + err[:60]
    return 'other'


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    dump, corpus, out_tsv = sys.argv[1:]
    cases = []
    with open(os.path.join(corpus, 'cases.tsv'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            cols = [unescape(c) for c in line.rstrip('\n').split('\t')]
            path, suite, group, via_http, headers, skip, desc, expect = cols[:8]
            g = suite if suite != 'wellformed' else 'wellformed/' + group
            if suite == 'illformed' and group == 'chardet':
                g = 'illformed/chardet'
            cases.append(dict(path=path, suite=suite, group=g, via_http=via_http == 'yes',
                              headers=headers, skip=skip, desc=desc, expect=expect))
    groups = {}
    disagreements = []
    skipped = []
    for c in cases:
        st = groups.setdefault(c['group'], {'run': 0, 'agree': 0, 'skip': 0})
        if not skip_ok(c['skip']):
            st['skip'] += 1
            skipped.append(c)
            continue
        full = os.path.join(corpus, c['path'])
        with open(full, 'rb') as f:
            c['text'] = f.read().decode('latin-1')
        url, ctype = '', ''
        if c['via_http']:
            url = HTTP_BASE + c['path']
            ctype = 'text/xml'
            for h in c['headers'].split('\n'):
                if ':' not in h:
                    continue
                k, v = h.split(':', 1)
                if k.strip().lower() == 'content-type':
                    ctype = v.strip()
                elif k.strip().lower() == 'content-location' and v.strip():
                    # what the fetcher passes as the document URL (RFC 9110 §8.7)
                    loc = urllib.parse.urljoin(url, v.strip())
                    if urllib.parse.urlsplit(loc).scheme in ('http', 'https'):
                        url = loc
        r = subprocess.run([dump, full, url, ctype], capture_output=True)
        st['run'] += 1
        if r.returncode != 0:
            disagreements.append((c, 'feeddump crashed or failed (exit %d)' % r.returncode))
            continue
        o = json.loads(r.stdout)
        if not o['ok']:
            disagreements.append((c, 'refused as not a feed (by design): ' + o['error'][:60]))
            continue
        names = map_result(o)
        ok, err = evaluate(c['expect'], names)
        if ok:
            st['agree'] += 1
        else:
            disagreements.append((c, reason_for(c, names, c['expect'], err)))
    with open(out_tsv, 'w', encoding='utf-8') as f:
        f.write('path\tgroup\treason\texpect\n')
        for c, why in disagreements:
            f.write('%s\t%s\t%s\t%s\n' % (c['path'], c['group'], why, c['expect'].replace('\t', ' ')))
        for c in skipped:
            f.write('%s\t%s\tskipped: SkipUnless %s is false here\t%s\n' % (
                c['path'], c['group'], c['skip'], c['expect'].replace('\t', ' ')))
    reasons = {}
    for c, why in disagreements:
        key = re.sub(r' \(bozo: .*', '', why)
        reasons[key] = reasons.get(key, 0) + 1
    n = len(groups) + 1
    print('1..%d' % n)
    i = 0
    total_run = total_agree = 0
    for g in sorted(groups):
        st = groups[g]
        i += 1
        total_run += st['run']
        total_agree += st['agree']
        pct = 100.0 * st['agree'] / st['run'] if st['run'] else 100.0
        floor = FLOORS.get(g, st['run'])
        status = 'ok' if st['agree'] >= floor else 'not ok'
        if not st['run']:
            print('ok %d - %s # SKIP all %d cases: their SkipUnless is false here' % (i, g, st['skip']))
            continue
        print('%s %d - %s: %d/%d agree (%.1f%%, floor %d)%s' % (
            status, i, g, st['agree'], st['run'], pct, floor,
            ', %d skipped' % st['skip'] if st['skip'] else ''))
    pct = 100.0 * total_agree / total_run if total_run else 0
    status = 'ok' if total_agree >= OVERALL_FLOOR else 'not ok'
    print('%s %d - overall: %d/%d agree (%.1f%%, floor %d), %d skipped' % (
        status, n, total_agree, total_run, pct, OVERALL_FLOOR, len(skipped)))
    unmodelled = sum(k for why, k in reasons.items()
                     if why.startswith(('field not modelled', 'title is plain text', 'text-construct type',
                                        'per-element base', 'raw date strings', 'HTTP response fields',
                                        'refused as not a feed', 'relative URIs inside HTML',
                                        'author is the name alone')))
    rest = total_run - unmodelled
    print('# on the %d cases about what bulletin models (the others are listed by reason below): '
          '%d/%d agree (%.1f%%)' % (rest, total_agree, rest, 100.0 * total_agree / rest if rest else 0))
    print('# disagreements by reason (full list: %s):' % out_tsv)
    for why, k in sorted(reasons.items(), key=lambda kv: -kv[1]):
        print('#   %4d  %s' % (k, why))
    return 0


if __name__ == '__main__':
    sys.exit(main())
