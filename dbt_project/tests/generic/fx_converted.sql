{#- FX coverage: fails for every row whose original amount is set but whose converted amount is
    NULL, i.e. no rate for the currency on or before the event's local date. -#}
{% test fx_converted(model, column_name, amount_column) %}

select *
from {{ model }}
where {{ amount_column }} is not null
    and {{ column_name }} is null

{% endtest %}
