{#- kpi_sales_cycle's statistics by month and company (macros/sales_cycle.sql) -#}
{{ sales_cycle_stats('month', 'company') }}
