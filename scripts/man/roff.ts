/**
 * Markdown (as docs/ writes it) to man(7) roff. marked's lexer does the parsing; this renders
 * the block and inline tokens our docs use: headings (## → .SH, ### → .SS), paragraphs, lists,
 * tables (as tagged paragraphs: the first cell is the tag), code blocks (no fill), code spans
 * and bold (\fB), emphasis (\fI), links (their text). Anything else is rendered as its text.
 */
import { Lexer, type Token, type Tokens } from 'marked';

/**
 * Escapes text for roff: backslashes, non-ASCII characters, and a `.` or `'` at the start of a
 * line (a request otherwise). `-` becomes `\-` (a minus, so options copied from the page work)
 * inside literals.
 */
export function roffEscape(text: string, literal = false): string {
  let out = text.replace(/\\/g, '\\e');
  if (literal) out = out.replace(/-/g, '\\-');
  // Non-ASCII as groff's Unicode escapes: the page is ASCII, whatever the reader's locale and
  // whether or not its formatter runs preconv.
  out = out.replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
  return out
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** Markdown's entities back to characters (marked keeps `&amp;` etc. in text tokens' `text`). */
function unescapeHtml(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] ?? _m,
  );
}

/** Inline tokens as roff text (one logical line; soft line breaks kept). */
export function inline(tokens: readonly Token[] | undefined): string {
  if (!tokens) return '';
  return tokens
    .map((t): string => {
      switch (t.type) {
        case 'codespan':
          return `\\fB${roffEscape(unescapeHtml((t as Tokens.Codespan).text), true)}\\fR`;
        case 'strong':
          return `\\fB${inline((t as Tokens.Strong).tokens)}\\fR`;
        case 'em':
          return `\\fI${inline((t as Tokens.Em).tokens)}\\fR`;
        case 'link':
          return inline((t as Tokens.Link).tokens);
        case 'br':
          return '\n.br\n';
        case 'text':
        case 'escape': {
          const x = t as Tokens.Text;
          return x.tokens ? inline(x.tokens) : roffEscape(unescapeHtml(x.text));
        }
        case 'html':
          return '';
        default:
          return roffEscape('text' in t && typeof t.text === 'string' ? t.text : t.raw);
      }
    })
    .join('');
}

/** A paragraph's text: lines trimmed (a leading blank breaks the line in roff), no empty lines. */
function flow(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function codeBlock(text: string): string {
  return ['.PP', '.RS 4', '.nf', roffEscape(text, true), '.fi', '.RE'].join('\n');
}

function list(l: Tokens.List): string {
  const out: string[] = [];
  l.items.forEach((item, i) => {
    out.push(l.ordered ? `.IP ${Number(l.start || 1) + i}. 4` : '.IP \\(bu 2');
    item.tokens.forEach((t, j) => {
      if (t.type === 'text') out.push(flow(inline((t as Tokens.Text).tokens ?? [t])));
      else if (t.type === 'list') out.push('.RS', list(t as Tokens.List), '.RE');
      else {
        // A later paragraph of the same item keeps its indent.
        const body = blocks([t]);
        if (body) out.push(j > 0 && t.type === 'paragraph' ? body.replace(/^\.PP\n/, '.IP\n') : body);
      }
    });
  });
  return out.join('\n');
}

/** A table as tagged paragraphs: the first cell is the tag; with more than two columns each later cell is prefixed by its header. */
function table(t: Tokens.Table): string {
  const out: string[] = [];
  const headers = t.header.map((h) => inline(h.tokens));
  for (const row of t.rows) {
    const [first, ...rest] = row;
    out.push('.TP', flow(inline(first?.tokens)) || '\\&');
    const cells = rest.map((c, i) => {
      const text = flow(inline(c.tokens));
      if (text === '') return '';
      return rest.length > 1 && headers[i + 1] ? `${headers[i + 1]}: ${text}` : text;
    });
    out.push(cells.filter((c) => c !== '').join('\n.br\n') || '\\&');
  }
  return out.join('\n');
}

/** Block tokens as roff. `##` is a section (.SH), `###` and deeper a subsection (.SS); `#` is left out (the page's title). */
export function blocks(tokens: readonly Token[]): string {
  const out: string[] = [];
  for (const t of tokens) {
    switch (t.type) {
      case 'heading': {
        const h = t as Tokens.Heading;
        if (h.depth === 1) break;
        // Section names are plain upper case; subsections keep their fonts.
        const text = h.depth === 2 ? roffEscape(h.text.replace(/[`*]/g, '').toUpperCase()) : inline(h.tokens);
        out.push(`${h.depth === 2 ? '.SH' : '.SS'} "${text.replace(/"/g, '\\(dq')}"`);
        break;
      }
      case 'paragraph':
        out.push('.PP', flow(inline((t as Tokens.Paragraph).tokens)));
        break;
      case 'code':
        out.push(codeBlock((t as Tokens.Code).text));
        break;
      case 'list':
        out.push(list(t as Tokens.List));
        break;
      case 'table':
        out.push(table(t as Tokens.Table));
        break;
      case 'blockquote':
        out.push('.RS 4', blocks((t as Tokens.Blockquote).tokens), '.RE');
        break;
      case 'space':
      case 'hr':
      case 'html':
        break;
      default:
        out.push('.PP', flow(roffEscape(t.raw)));
    }
  }
  return out.join('\n');
}

/** Parses markdown into block tokens (GitHub-flavoured: tables). */
export function lex(md: string): Token[] {
  return new Lexer({ gfm: true }).lex(md);
}
