{#- kpi_sales_cycle's statistics by quarter and team (macros/sales_cycle.sql) -#}
{{ sales_cycle_stats('quarter', 'team') }}
