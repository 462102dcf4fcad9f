#!/usr/bin/env python3
# The sign-up form ("cadastro") of the demo site.
#   GET/HEAD: the form.
#   POST application/x-www-form-urlencoded: checks nome and email, echoes the fields.
#   Another body type: 415. Another method: 405.
# Standard library only (the cgi module is gone from Python 3.13).
import html
import os
import sys
from urllib.parse import parse_qs

FIELDS = [('nome', 'Nome'), ('email', 'E-mail'), ('linguagem', 'Linguagem'),
          ('plano', 'Plano'), ('mensagem', 'Mensagem')]

FORM = '''<form method="post" action="/cgi-bin/cadastro.py">
<p><label for="nome">Nome</label>
<input id="nome" name="nome" type="text" required maxlength="100"></p>
<p><label for="email">E-mail</label>
<input id="email" name="email" type="email" required maxlength="200"></p>
<p><label for="linguagem">Linguagem favorita</label>
<select id="linguagem" name="linguagem">
<option value="python">Python</option><option value="perl">Perl</option>
<option value="sh">sh</option><option value="c">C</option>
<option value="outra">outra</option>
</select></p>
<fieldset><legend>Plano</legend>
<label><input type="radio" name="plano" value="gratis" checked> grátis</label>
<label><input type="radio" name="plano" value="pro"> pro</label>
</fieldset>
<p><label for="mensagem">Mensagem</label>
<textarea id="mensagem" name="mensagem" rows="4" cols="40"></textarea></p>
<p><button type="submit">cadastrar</button></p>
</form>'''


def page(title, body, status=None, extra=()):
    head = []
    if status:
        head.append('Status: ' + status)
    head.extend(extra)
    head.append('Content-Type: text/html; charset=utf-8')
    doc = ('<!DOCTYPE html>\n<html lang="pt-BR">\n<head>\n<meta charset="utf-8">\n'
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
           '<title>%s &mdash; porta</title>\n<link rel="stylesheet" href="/style.css">\n'
           '</head>\n<body>\n<header><h1>%s</h1></header>\n'
           '<nav><a href="/">home</a> <a href="/cgi.html">CGI scripts</a></nav>\n'
           '<main>\n%s\n</main>\n</body>\n</html>\n') % (html.escape(title), html.escape(title), body)
    out = '\r\n'.join(head) + '\r\n\r\n' + doc
    sys.stdout.buffer.write(out.encode('utf-8'))


def read_body():
    try:
        length = int(os.environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    return sys.stdin.buffer.read(length) if length > 0 else b''


def post():
    ctype = os.environ.get('CONTENT_TYPE', '').split(';')[0].strip().lower()
    if ctype != 'application/x-www-form-urlencoded':
        read_body()
        page('Tipo não suportado',
             '<p>Envie o formulário como <code>application/x-www-form-urlencoded</code>; '
             'recebido: <code>%s</code>.</p>' % html.escape(ctype or '(nenhum)'),
             status='415 Unsupported Media Type')
        return
    data = parse_qs(read_body().decode('utf-8', 'replace'), keep_blank_values=True)
    values = {name: data.get(name, [''])[0].strip() for name, _ in FIELDS}
    missing = [label for name, label in FIELDS[:2] if not values[name]]
    if values['email'] and '@' not in values['email']:
        missing.append('E-mail (inválido)')
    if missing:
        items = ''.join('<li>%s</li>' % html.escape(m) for m in missing)
        page('Cadastro incompleto',
             '<p>Campos obrigatórios faltando ou inválidos:</p>\n<ul>%s</ul>\n%s' % (items, FORM),
             status='400 Bad Request')
        return
    rows = ''.join('<tr><th>%s</th><td>%s</td></tr>\n' % (html.escape(label), html.escape(values[name]))
                   for name, label in FIELDS)
    page('Cadastro recebido',
         '<p>Obrigado, %s!</p>\n<table>\n%s</table>\n<p><a href="/">voltar</a></p>'
         % (html.escape(values['nome']), rows))


method = os.environ.get('REQUEST_METHOD', 'GET')
if method in ('GET', 'HEAD'):
    page('Cadastro', '<p>Preencha os campos e clique em <em>cadastrar</em>.</p>\n' + FORM)
elif method == 'POST':
    post()
else:
    page('Método não permitido',
         '<p>Use GET ou POST; recebido: <code>%s</code>.</p>' % html.escape(method),
         status='405 Method Not Allowed', extra=('Allow: GET, HEAD, POST',))
