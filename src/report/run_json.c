/* run.json for the report page (see run_json.h). */
#include "report/run_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/files.h"
#include "report/html.h"

/* Longest JSON text shown in one cell: data.skipped can list many images. */
#define MAX_CELL_JSON 300

vkl_status vkl_report_load_json(const char *path, cJSON **out, char *err, size_t errlen) {
  char *text = NULL;
  size_t len = 0;
  vkl_status st = vkl_report_read_file(path, &text, &len, err, errlen);
  if (st) return st;
  const char *end = NULL;
  *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!*out) {
    size_t line = 1;
    for (const char *p = text; end && p < end && *p; p++) line += *p == '\n';
    snprintf(err, errlen, "%s:%zu: malformed JSON", path, line);
    st = VKL_ERR_FORMAT;
  }
  free(text);
  return st;
}

const char *vkl_report_device_name(const cJSON *run) {
  const cJSON *dev = cJSON_GetObjectItemCaseSensitive(run, "device");
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(dev, "name");
  return cJSON_IsString(name) ? name->valuestring : NULL;
}

/* A scalar as text; an array or object as its JSON, cut to MAX_CELL_JSON. */
static void value_text(const cJSON *v, char *out, size_t outlen) {
  if (cJSON_IsString(v)) {
    snprintf(out, outlen, "%s", v->valuestring);
  } else if (cJSON_IsNumber(v)) {
    snprintf(out, outlen, "%.10g", v->valuedouble);
  } else if (cJSON_IsBool(v)) {
    snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "true" : "false");
  } else if (cJSON_IsNull(v)) {
    snprintf(out, outlen, "null");
  } else {
    char *json = cJSON_PrintUnformatted(v);
    size_t n = json ? strlen(json) : 0;
    snprintf(out, outlen, "%.*s%s", MAX_CELL_JSON, json ? json : "?",
             n > MAX_CELL_JSON ? "..." : "");
    free(json);
  }
}

static void setting_row(vkl_strbuf *html, const char *prefix, const cJSON *v) {
  char key[256], text[MAX_CELL_JSON + 8];
  snprintf(key, sizeof key, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
           v->string ? v->string : "?");
  value_text(v, text, sizeof text);
  const char *cells[] = {key, text};
  vkl_html_row(html, cells, 2, 0);
}

void vkl_report_settings_html(vkl_strbuf *html, const cJSON *run) {
  vkl_html_heading(html, "Settings");
  const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(run, "command");
  if (cJSON_IsString(cmd)) {
    vkl_strbuf_add(html, "<p><code>");
    vkl_html_escape(html, cmd->valuestring);
    vkl_strbuf_add(html, "</code></p>\n");
  }
  vkl_html_table_begin(html);
  const char *head[] = {"setting", "value"};
  vkl_html_row(html, head, 2, 1);
  const cJSON *top;
  cJSON_ArrayForEach(top, run) {
    if (top->string && strcmp(top->string, "command") == 0) continue;
    if (!cJSON_IsObject(top)) {
      setting_row(html, NULL, top);
      continue;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, top) setting_row(html, top->string, v);
  }
  vkl_html_table_end(html);
}
