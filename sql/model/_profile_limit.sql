{#- The partition GROUP_ETL_MAX_GROUP_PROFILES is applied to (`partition`, from the
    caller): 'group' is load date :d's group updates; 'upload' is one upload's rows
    (kind upload, load date :d, object :source, applied at :now). -#}
{%- macro in_partition(u='') -%}
{%- if partition == 'group' -%}
{{ u }}kind = 'group' AND {{ u }}load_date = :d
{%- elif partition == 'upload' -%}
{{ u }}kind = 'upload' AND {{ u }}load_date = :d AND {{ u }}source_object = :source AND {{ u }}update_time = :now
{%- endif -%}
{%- endmacro %}
