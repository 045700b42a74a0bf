# shellcheck shell=bash
# The Grafana dashboard (dist/grafana/iceprobe.json) against the real Prometheus
# of controller.sh: the JSON model's shape, then every panel's query and every
# template variable's query, with the variables substituted, asked of
# Prometheus' HTTP API: each must succeed and answer. Grafana itself is not a
# Debian 12 package, so its rendering is not tested here; what it would send
# Prometheus is.

# Every panel, those inside rows included.
DASH_PANELS='[.panels[] | ., (.panels // [])[]]'

# dash_expand EXPR NAME=VALUE...: EXPR with the dashboard's variables and
# Grafana's interval variables replaced by concrete values.
dash_expand() {
	local e=$1 kv name
	shift
	e=${e//"\$__rate_interval"/1m}
	e=${e//"\$__interval"/15s}
	e=${e//"\$__range"/10m}
	for kv in "$@"; do
		name=${kv%%=*}
		e=${e//"\${$name}"/${kv#*=}}
		e=${e//"\$$name"/${kv#*=}}
	done
	printf '%s' "$e"
}

# The JSON model itself: well-formed, unique panel ids, every query on the
# data source variable, nothing fetched from outside.
dash_shape() { # dashboard.json
	local json=$1 ds="\${datasource}"
	assert_ok "the dashboard is well-formed JSON" jq -e 'type == "object"' "$json"
	assert_eq "it has a uid, a title and a schemaVersion of Grafana 10 or later" \
		"$(jq -r '[(.uid | type == "string" and length > 0), (.title | length > 0), .schemaVersion >= 36] | all' "$json")" true
	assert_eq "every panel has an id, unique" \
		"$(jq "$DASH_PANELS | map(.id) | all(type == \"number\") and length == (unique | length)" "$json")" true
	assert_eq "every panel but a row has queries, each with an expression and a refId unique in its panel" \
		"$(jq -r "$DASH_PANELS | map(select(.type != \"row\") | select((.targets // []) as \$t |
			(\$t | length) == 0 or any(\$t[]; (.expr // \"\") == \"\") or
			(\$t | map(.refId) | length != (unique | length))) | .title) | join(\", \")" "$json")" ""
	assert_eq "every panel and query reads the \${datasource} variable" \
		"$(jq -r --arg ds "$ds" "$DASH_PANELS | map(select(.type != \"row\") |
			select(.datasource.uid != \$ds or any(.targets[]; .datasource.uid != \$ds)) | .title) | join(\", \")" "$json")" ""
	assert_eq "which is a Prometheus data source variable, as every query variable's data source" \
		"$(jq -r --arg ds "$ds" '[(.templating.list[] | select(.name == "datasource") | .type + " " + .query),
			(.templating.list[] | select(.type == "query") | select(.datasource.uid != $ds) | .name)] | join(",")' "$json")" \
		"datasource prometheus"
	assert_eq "no external resource (no URL anywhere in it)" "$(grep -c '://' "$json")" 0
}

# Every target's expression, substituted, must succeed and answer, as an
# instant query and (for a panel drawn over time) as a range query. Prints the
# failures, one a line: panel title [refId]: why.
dash_queries() { # dashboard.json prometheus-url NAME=VALUE...
	local json=$1 prom=$2 title ref instant expr q r why now
	shift 2
	now=$(date +%s)
	while IFS=$'\t' read -r title ref instant expr; do
		q=$(dash_expand "$expr" "$@")
		if [[ $q == *'$'* ]]; then
			printf '%s [%s]: a variable the test does not know: %s\n' "$title" "$ref" "$q"
			continue
		fi
		r=$(curl -s --max-time 10 "$prom/api/v1/query" --data-urlencode "query=$q")
		[ -n "${DASH_DEBUG:-}" ] && printf '%s\n%s\n' "$title $q" "$(jq -c '.data.result[:4]' <<<"$r")" >&2
		why=$(jq -r 'if .status != "success" then "error: \(.error)" elif .data.resultType != "vector"
			then "a \(.data.resultType), not a vector" elif (.data.result | length) == 0 then "no series"
			else empty end' <<<"$r" 2>&1)
		if [ -z "$why" ] && [ "$instant" = false ]; then
			r=$(curl -s --max-time 10 "$prom/api/v1/query_range" --data-urlencode "query=$q" \
				--data-urlencode "start=$((now - 30))" --data-urlencode "end=$now" --data-urlencode step=5)
			why=$(jq -r 'if .status != "success" then "range: error: \(.error)"
				elif (.data.result | length) == 0 then "range: no series" else empty end' <<<"$r" 2>&1)
		fi
		[ -n "$why" ] && printf '%s [%s]: %s: %s\n' "$title" "$ref" "$why" "$q"
	done < <(jq -r "$DASH_PANELS | .[] | .title as \$t | (.targets // [])[] |
		[\$t, .refId, (.instant == true | tostring), .expr] | @tsv" "$json")
}

# Each template variable's label_values(SELECTOR, LABEL), substituted, asked of
# /api/v1/label/LABEL/values: prints "name: values" (space-separated).
dash_variables() { # dashboard.json prometheus-url NAME=VALUE...
	local json=$1 prom=$2 name query sel label
	shift 2
	while IFS=$'\t' read -r name query; do
		if ! [[ $query =~ ^label_values\((.*),\ *([a-zA-Z_][a-zA-Z0-9_]*)\)$ ]]; then
			printf '%s: not a label_values query: %s\n' "$name" "$query"
			continue
		fi
		sel=$(dash_expand "${BASH_REMATCH[1]}" "$@")
		label=${BASH_REMATCH[2]}
		printf '%s: %s\n' "$name" "$(curl -s --max-time 10 -G "$prom/api/v1/label/$label/values" \
			--data-urlencode "match[]=$sel" | jq -r 'if .status == "success" then .data | join(" ")
				else "error: \(.error)" end')"
	done < <(jq -r '.templating.list[] | select(.type == "query") | [.name, .query] | @tsv' "$json")
}

# The metric families of a scrape (its # TYPE lines) that no panel's query
# names: printed space-separated.
dash_uncovered() { # dashboard.json metrics-file
	local m
	while read -r m; do
		jq -e --arg m "$m" "$DASH_PANELS | any(.[].targets[]?; .expr | test(\"\\\\b\" + \$m + \"\\\\b\"))" \
			"$1" >/dev/null || printf ' %s' "$m"
	done < <(awk '$1 == "#" && $2 == "TYPE" {print $3}' "$2")
}

# The whole check. METRICS is a scrape of the controller: each family it
# exports must be on some panel. The values are ones the scrape has, so each
# query is asked with every variable at "All" and with one real value each.
dashboard_check() { # dashboard.json prometheus-url metrics-file job profile agent path
	local json=$1 prom=$2 metrics=$3 job=$4 profile=$5 agent=$6 path=$7 vars out n
	dash_shape "$json"
	vars=$(dash_variables "$json" "$prom" "job=$job" "profile=.*" "agent=.*")
	assert_match "the job variable's query finds the scrape job" "$vars" "^job: (.* )?$job( |$)"
	assert_match "the profile variable's finds $profile" "$vars" "profile: (.* )?$profile( |$)"
	assert_match "the agent variable's finds $agent" "$vars" "agent: (.* )?$agent( |$)"
	assert_match "the path variable's finds $path" "$vars" "path: (.* )?$path( |$)"
	n=$(jq "$DASH_PANELS | map(.targets // [] | length) | add" "$json")
	out=$(dash_queries "$json" "$prom" "job=$job" "profile=.*" "agent=.*" "path=.*")
	assert_eq "all $n panel queries answer in Prometheus, every variable at All" "$out" ""
	out=$(dash_queries "$json" "$prom" "job=$job" "profile=$profile" "agent=$agent" "path=$path")
	assert_eq "and with profile $profile, agent $agent, path $path" "$out" ""
	out=$(dash_queries <(jq '(.panels[] | select(.title == "Loss per pair and path") | .targets[0].expr) |=
		gsub("iceprobe_loss_ratio"; "iceprobe_loss_ratios")' "$json") "$prom" "job=$job" "profile=.*" "agent=.*" "path=.*")
	assert_match "(a query that finds nothing is named by its panel)" "$out" '^Loss per pair and path \[A\]: no series'
	assert_eq "every metric family the controller exports is on a panel" "$(dash_uncovered "$json" "$metrics")" ""
	assert_eq "(a family on no panel is named)" \
		"$(dash_uncovered "$json" <(printf '# TYPE iceprobe_mos gauge\n# TYPE iceprobe_nothing gauge\n'))" " iceprobe_nothing"
}
