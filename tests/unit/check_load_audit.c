/* Unit tests of shop-audit's invariants (audit_check) on a small consistent
 * shop, then with one thing broken at a time: each break must be counted,
 * exactly, under the invariant it violates. Also the parsers of the admin
 * list shapes (audit_model). */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../load/audit_check.h"
#include "../load/audit_model.h"

static audit_state st;
static audit_report rep;

static void add_rec(load_rec r)
{
    load_rec *slot = AUDIT_PUSH(st.record);
    ck_assert_ptr_nonnull(slot);
    *slot = r;
}

static audit_order *add_order(int64_t id, int64_t user, audit_order_status status, int64_t qty,
                              int64_t uc, int64_t discount, int64_t payment)
{
    audit_order *o = AUDIT_PUSH(st.orders);
    ck_assert_ptr_nonnull(o);
    o->lines = calloc(1, sizeof *o->lines);
    o->lines[0] = (audit_line){.item_id = 1, .quantity = qty, .unit_price = 1000};
    o->n_lines = 1;
    *o = (audit_order){.id = id, .user_id = user, .status = status, .user_coupon_id = uc,
                       .payment_id = payment, .total = qty * 1000, .discount = discount,
                       .final_amount = qty * 1000 - discount, .lines = o->lines, .n_lines = 1};
    return o;
}

static audit_ledger *add_ledger(int64_t id, audit_ledger_kind kind, int64_t amount, int64_t after,
                                const char *ref)
{
    audit_ledger *e = AUDIT_PUSH(st.ledger);
    ck_assert_ptr_nonnull(e);
    *e = (audit_ledger){.id = id, .user_id = 10, .kind = kind, .amount = amount, .balance_after = after};
    snprintf(e->ref, sizeof e->ref, "%s", ref);
    return e;
}

/* Item 1 (price 1000, stock 10), user 10 (50000), coupon 100 (FIXED 500 x 2);
 * order 1000 PAID (2 units, coupon 500, final 1500, payment 7000), order 1001
 * CREATED (1 unit), order 1002 CANCELLED (3 units); a charge of 300. */
static void setup(void)
{
    memset(&st, 0, sizeof st);
    add_rec((load_rec){.kind = LOAD_REC_META, .clients = 1});
    add_rec((load_rec){.kind = LOAD_REC_ITEM, .id = 1, .price = 1000, .stock = 10});
    add_rec((load_rec){.kind = LOAD_REC_USER, .id = 10, .balance = 50000});
    add_rec((load_rec){.kind = LOAD_REC_COUPON, .id = 100, .discount_type = LOAD_DISCOUNT_FIXED,
                       .discount_value = 500, .total_quantity = 2});
    add_rec((load_rec){.kind = LOAD_REC_ISSUE, .id = 500, .coupon_id = 100, .user_id = 10, .key = "k-i"});
    add_rec((load_rec){.kind = LOAD_REC_ORDER, .id = 1000, .user_id = 10, .amount = 1500,
                       .user_coupon_id = 500, .key = "k-o1"});
    add_rec((load_rec){.kind = LOAD_REC_ORDER, .id = 1001, .user_id = 10, .amount = 1000, .key = "k-o2"});
    add_rec((load_rec){.kind = LOAD_REC_ORDER, .id = 1002, .user_id = 10, .amount = 3000, .key = "k-o3"});
    add_rec((load_rec){.kind = LOAD_REC_PAYMENT, .id = 7000, .order_id = 1000, .user_id = 10,
                       .amount = 1500, .key = "k-p"});
    add_rec((load_rec){.kind = LOAD_REC_CHARGE, .user_id = 10, .amount = 300, .key = "k-c"});
    add_rec((load_rec){.kind = LOAD_REC_CANCEL, .order_id = 1002, .user_id = 10});

    *AUDIT_PUSH(st.items) = (audit_item){.id = 1, .price = 1000, .stock = 7};
    *AUDIT_PUSH(st.items) = (audit_item){.id = 2, .price = 5, .stock = 1}; /* seed, not ours */
    *AUDIT_PUSH(st.users) = (audit_user){.id = 10, .balance = 48800, .initial_balance = 50000};
    *AUDIT_PUSH(st.coupons) = (audit_coupon){.id = 100, .discount_type = LOAD_DISCOUNT_FIXED,
                                             .discount_value = 500, .total_quantity = 2,
                                             .issued_quantity = 1};
    *AUDIT_PUSH(st.user_coupons) = (audit_user_coupon){
        .id = 500, .coupon_id = 100, .user_id = 10, .used_order_id = 1000, .is_used = true,
        .discount_type = LOAD_DISCOUNT_FIXED, .discount_value = 500};
    add_order(1000, 10, AUDIT_O_PAID, 2, 500, 500, 7000);
    add_order(1001, 10, AUDIT_O_CREATED, 1, 0, 0, 0);
    add_order(1002, 10, AUDIT_O_CANCELLED, 3, 0, 0, 0);
    *AUDIT_PUSH(st.payments) = (audit_payment){.id = 7000, .order_id = 1000, .user_id = 10,
                                               .amount = 1500, .status = AUDIT_P_COMPLETED,
                                               .delivered = true};
    add_ledger(1, AUDIT_L_CHARGE, 300, 50300, "#charge:k-c");
    add_ledger(2, AUDIT_L_DEBIT, 1500, 48800, "pay-7000");
    *AUDIT_PUSH(st.dp_orders) = (audit_dp_order){.order_id = 1000, .payment_id = 7000, .user_id = 10,
                                                 .final_amount = 1500};
}

static void teardown(void)
{
    audit_state_release(&st);
}

static int64_t run(void)
{
    int64_t total = audit_check_all(&st, &rep);
    ck_assert_int_ge(total, 0);
    return total;
}

static audit_order *order(int64_t id)
{
    for (size_t i = 0; i < st.orders.n; i++)
        if (st.orders.v[i].id == id)
            return &st.orders.v[i];
    ck_abort_msg("no order %lld", (long long)id);
    return NULL;
}

#define V(inv) (rep.r[AUDIT_INV_##inv].violations)

START_TEST(test_consistent_shop_passes)
{
    ck_assert_int_eq(run(), 0);
    ck_assert_int_eq(rep.r[AUDIT_INV_FIXTURES].checked, 3);
    ck_assert_int_eq(rep.r[AUDIT_INV_ORDER_PENDING].checked, 3);
    ck_assert_int_eq(rep.r[AUDIT_INV_PAID_HAS_PAYMENT].checked, 1);
    ck_assert_int_eq(rep.r[AUDIT_INV_ACKED].checked, 7);
    audit_unsettled u;
    audit_find_unsettled(&st, &u);
    ck_assert_int_eq(u.pending_orders + u.cancelling_orders + u.pending_payments + u.undelivered_payments, 0);
}
END_TEST

START_TEST(test_other_users_are_ignored)
{
    /* A seed user's PENDING order of a seed item, its lone DEBIT and a stray
     * data-platform record do not concern this run. */
    audit_order *o = add_order(5, 99, AUDIT_O_PENDING, 1, 0, 0, 0);
    o->lines[0].item_id = 2;
    o->lines[0].unit_price = 5;
    o->total = o->final_amount = 5;
    audit_ledger *e = add_ledger(3, AUDIT_L_DEBIT, 5, 0, "pay-1");
    e->user_id = 99;
    *AUDIT_PUSH(st.dp_orders) = (audit_dp_order){.order_id = 5, .payment_id = 1, .user_id = 99};
    ck_assert_int_eq(run(), 0);
}
END_TEST

START_TEST(test_pending_order)
{
    order(1001)->status = AUDIT_O_PENDING;
    ck_assert_int_eq(run(), 3);
    ck_assert_int_eq(V(ORDER_PENDING), 1);
    ck_assert_int_eq(V(ACKED), 1); /* the client was told CREATED */
    ck_assert_int_eq(V(STOCK), 1); /* a PENDING order holds no stock here */
    audit_unsettled u;
    audit_find_unsettled(&st, &u);
    ck_assert_int_eq(u.pending_orders, 1);
}
END_TEST

START_TEST(test_cancelling_counts_as_holding)
{
    /* A CREATED order half-way through compensation still holds its unit. */
    order(1001)->status = AUDIT_O_CANCELLING;
    ck_assert_int_eq(run(), 0);
    ck_assert_ptr_nonnull(strstr(rep.r[AUDIT_INV_STOCK].note, "1 CANCELLING"));
    audit_unsettled u;
    audit_find_unsettled(&st, &u);
    ck_assert_int_eq(u.cancelling_orders, 1);
}
END_TEST

START_TEST(test_stock_leak)
{
    st.items.v[0].stock = 8; /* one unit given back twice */
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(STOCK), 1);
}
END_TEST

START_TEST(test_negative_stock)
{
    add_rec((load_rec){.kind = LOAD_REC_ITEM, .id = 2, .price = 5, .stock = -1});
    st.items.v[1].stock = -1;
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(STOCK), 1);
}
END_TEST

START_TEST(test_wrong_discount)
{
    audit_order *o = order(1001);
    o->discount = 100; /* no coupon, yet a discount */
    o->final_amount = 900;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(ORDER_AMOUNTS), 1);
    ck_assert_int_eq(V(ACKED), 1); /* told 1000 */
}
END_TEST

START_TEST(test_percent_discount_rule)
{
    /* PERCENT 10 on 3 x 333 = 999: floor(99.9) = 99. */
    st.user_coupons.v[0].discount_type = LOAD_DISCOUNT_PERCENT;
    st.user_coupons.v[0].discount_value = 10;
    st.user_coupons.v[0].is_used = false;
    st.user_coupons.v[0].used_order_id = 0;
    audit_order *o = order(1002); /* CANCELLED: amounts still checked */
    o->user_coupon_id = 500;
    o->lines[0].unit_price = 333;
    o->total = 999;
    o->discount = 99;
    o->final_amount = 900;
    st.items.v[0].price = 333;
    order(1000)->lines[0].unit_price = 333; /* keep the others at the item's price */
    order(1000)->total = 666;
    order(1000)->discount = 500;
    order(1000)->final_amount = 166;
    run();
    ck_assert_int_eq(V(ORDER_AMOUNTS), 2); /* 1000: 500 is not 10% of 666; 1001 at 1000 a unit */
    order(1000)->discount = 66;
    order(1000)->final_amount = 600;
    run();
    ck_assert_int_eq(V(ORDER_AMOUNTS), 1); /* order 1001 still at 1000 a unit */
    order(1001)->lines[0].unit_price = 333;
    order(1001)->total = order(1001)->final_amount = 333;
    run();
    ck_assert_int_eq(V(ORDER_AMOUNTS), 0);
}
END_TEST

START_TEST(test_paid_without_payment)
{
    st.payments.n = 0; /* the payment is lost */
    ck_assert_int_ge(run(), 1);
    ck_assert_int_eq(V(PAID_HAS_PAYMENT), 1);
    ck_assert_int_eq(V(ACKED), 1);
}
END_TEST

START_TEST(test_two_completed_payments)
{
    *AUDIT_PUSH(st.payments) = (audit_payment){.id = 7001, .order_id = 1000, .user_id = 10,
                                               .amount = 1500, .status = AUDIT_P_COMPLETED,
                                               .delivered = true};
    add_ledger(3, AUDIT_L_DEBIT, 1500, 47300, "pay-7001");
    st.users.v[0].balance = 47300;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(PAID_HAS_PAYMENT), 1);
    ck_assert_int_eq(V(PAYMENT_HAS_ORDER), 1); /* order 1000 names 7000, not 7001 */
}
END_TEST

START_TEST(test_double_debit)
{
    add_ledger(3, AUDIT_L_DEBIT, 1500, 47300, "pay-7000");
    st.users.v[0].balance = 47300;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(LEDGER_PAYMENTS), 1);
    ck_assert_int_eq(V(MONEY), 1);
    ck_assert_int_eq(V(LEDGER_CHAIN), 0);
}
END_TEST

START_TEST(test_refund_without_credit)
{
    /* Order 1001 was paid, then cancelled meanwhile: REFUNDED needs its CREDIT. */
    order(1001)->status = AUDIT_O_CANCELLED;
    add_rec((load_rec){.kind = LOAD_REC_CANCEL, .order_id = 1001, .user_id = 10});
    st.items.v[0].stock = 8;
    *AUDIT_PUSH(st.payments) = (audit_payment){.id = 7001, .order_id = 1001, .user_id = 10,
                                               .amount = 1000, .status = AUDIT_P_REFUNDED};
    add_ledger(3, AUDIT_L_DEBIT, 1000, 47800, "pay-7001");
    st.users.v[0].balance = 47800;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(LEDGER_PAYMENTS), 1);
    ck_assert_int_eq(V(MONEY), 1); /* the refund is owed */
    add_ledger(4, AUDIT_L_CREDIT, 1000, 48800, "refund-7001");
    st.users.v[0].balance = 48800;
    ck_assert_int_eq(run(), 0);
}
END_TEST

START_TEST(test_ledger_chain_break)
{
    /* Each step is checked against the entry before it: one wrong
     * balanceAfter breaks the step into it and the step out of it. */
    st.ledger.v[0].balance_after = 50301;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(LEDGER_CHAIN), 2);
    /* A balance that jumped between entries breaks one step and the end. */
    st.ledger.v[0].balance_after = 50300;
    st.ledger.v[1].balance_after = 48700;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(LEDGER_CHAIN), 2);
    st.users.v[0].balance = 48700;
    run();
    ck_assert_int_eq(V(LEDGER_CHAIN), 1);
    ck_assert_int_eq(V(MONEY), 1);
}
END_TEST

START_TEST(test_debit_for_failed_payment)
{
    *AUDIT_PUSH(st.payments) = (audit_payment){.id = 7001, .order_id = 1001, .user_id = 10,
                                               .amount = 1000, .status = AUDIT_P_FAILED};
    add_ledger(3, AUDIT_L_DEBIT, 1000, 47800, "pay-7001");
    st.users.v[0].balance = 47800;
    ck_assert_int_eq(run(), 3);
    ck_assert_int_eq(V(LEDGER_PAYMENTS), 2); /* the entry, and the payment's count */
    ck_assert_int_eq(V(MONEY), 1);
}
END_TEST

START_TEST(test_void_of_a_completed_payment)
{
    add_ledger(3, AUDIT_L_VOID, 0, 48800, "pay-7000");
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(LEDGER_PAYMENTS), 1);
}
END_TEST

START_TEST(test_charge_not_in_ledger)
{
    snprintf(st.ledger.v[0].ref, sizeof st.ledger.v[0].ref, "#charge:k-other"); /* another key */
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(ACKED), 1);
    /* A ref without any key (null) is matched by amount instead. */
    st.ledger.v[0].ref[0] = '\0';
    ck_assert_int_eq(run(), 0);
}
END_TEST

START_TEST(test_coupon_used_without_order)
{
    order(1000)->user_coupon_id = 0; /* nothing holds it, yet it is used */
    order(1000)->discount = 0;
    order(1000)->final_amount = 2000;
    run();
    ck_assert_int_eq(V(COUPON_USED), 1);
}
END_TEST

START_TEST(test_coupon_held_but_unused)
{
    st.user_coupons.v[0].is_used = false;
    st.user_coupons.v[0].used_order_id = 0;
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(COUPON_USED), 1);
}
END_TEST

START_TEST(test_coupon_held_twice)
{
    order(1001)->user_coupon_id = 500;
    order(1001)->discount = 500;
    order(1001)->final_amount = 500;
    run();
    ck_assert_int_eq(V(COUPON_USED), 1);
}
END_TEST

START_TEST(test_coupon_oversold_and_duplicate)
{
    *AUDIT_PUSH(st.user_coupons) = (audit_user_coupon){
        .id = 501, .coupon_id = 100, .user_id = 10, .discount_type = LOAD_DISCOUNT_FIXED,
        .discount_value = 500};
    *AUDIT_PUSH(st.user_coupons) = (audit_user_coupon){
        .id = 502, .coupon_id = 100, .user_id = 11, .discount_type = LOAD_DISCOUNT_FIXED,
        .discount_value = 500};
    st.coupons.v[0].issued_quantity = 3;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(COUPON_ISSUED), 1); /* 3 > 2 */
    ck_assert_int_eq(V(COUPON_UNIQUE), 1); /* user 10 twice */
    st.coupons.v[0].issued_quantity = 2;   /* and the counter disagrees with the rows */
    run();
    ck_assert_int_eq(V(COUPON_ISSUED), 1);
}
END_TEST

START_TEST(test_data_platform_duplicate_and_unpaid)
{
    *AUDIT_PUSH(st.dp_orders) = st.dp_orders.v[0];
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(DATA_PLATFORM), 1);
    st.dp_orders.v[1] = (audit_dp_order){.order_id = 1001, .payment_id = 1, .user_id = 10};
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(DATA_PLATFORM), 1);
    st.dp_orders.n = 0; /* the PAID order never arrived */
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(DATA_PLATFORM), 1);
}
END_TEST

START_TEST(test_acknowledged_order_lost)
{
    st.orders.n--; /* order 1002 (CANCELLED, told 201 then 200) vanished */
    free(st.orders.v[st.orders.n].lines);
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(ACKED), 2);
}
END_TEST

START_TEST(test_declined_payment_but_order_paid)
{
    add_rec((load_rec){.kind = LOAD_REC_DECLINED, .order_id = 1000, .user_id = 10, .key = "k-d"});
    ck_assert_int_eq(run(), 1);
    ck_assert_int_eq(V(ACKED), 1);
}
END_TEST

START_TEST(test_missing_fixture)
{
    add_rec((load_rec){.kind = LOAD_REC_USER, .id = 11, .balance = 5});
    st.users.v[0].initial_balance = 1;
    ck_assert_int_eq(run(), 2);
    ck_assert_int_eq(V(FIXTURES), 2);
}
END_TEST

START_TEST(test_parse_shapes)
{
    char err[200];
    cJSON *j = cJSON_Parse("{\"id\":12,\"userId\":1,\"status\":\"PAID\",\"items\":[{\"itemId\":1,"
                           "\"quantity\":2,\"unitPrice\":50000}],\"userCouponId\":null,"
                           "\"totalAmount\":100000,\"discountAmount\":0,\"finalAmount\":100000,"
                           "\"paymentId\":5,\"createdAt\":\"x\",\"updatedAt\":\"x\"}");
    audit_order o;
    ck_assert_msg(audit_parse_order(j, &o, err, sizeof err), "%s", err);
    ck_assert_int_eq(o.id, 12);
    ck_assert_int_eq(o.status, AUDIT_O_PAID);
    ck_assert_int_eq(o.user_coupon_id, 0);
    ck_assert_int_eq(o.payment_id, 5);
    ck_assert_int_eq(o.n_lines, 1);
    ck_assert_int_eq(o.lines[0].unit_price, 50000);
    free(o.lines);
    cJSON_Delete(j);

    j = cJSON_Parse("{\"id\":12,\"userId\":1,\"status\":\"PAID\",\"items\":[{\"itemId\":1}],"
                    "\"totalAmount\":1,\"discountAmount\":0,\"finalAmount\":1}");
    ck_assert(!audit_parse_order(j, &o, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "quantity"));
    ck_assert_ptr_null(o.lines);
    cJSON_Delete(j);

    audit_payment p;
    j = cJSON_Parse("{\"id\":5,\"orderId\":12,\"userId\":1,\"amount\":95000,\"status\":\"COMPLETED\","
                    "\"delivery\":{\"status\":\"DELIVERED\",\"attempts\":1}}");
    ck_assert(audit_parse_payment(j, &p, err, sizeof err));
    ck_assert(p.delivered);
    ck_assert_int_eq(p.status, AUDIT_P_COMPLETED);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"id\":5,\"orderId\":12,\"userId\":1,\"amount\":9,\"status\":\"FAILED\",\"delivery\":null}");
    ck_assert(audit_parse_payment(j, &p, err, sizeof err));
    ck_assert(!p.delivered);
    ck_assert_int_eq(p.status, AUDIT_P_FAILED);
    cJSON_Delete(j);

    audit_ledger e;
    j = cJSON_Parse("{\"id\":1,\"userId\":1,\"ref\":null,\"kind\":\"VOID\",\"amount\":0,\"balanceAfter\":7}");
    ck_assert(audit_parse_ledger(j, &e, err, sizeof err));
    ck_assert_str_eq(e.ref, "");
    ck_assert_int_eq(e.kind, AUDIT_L_VOID);
    cJSON_Delete(j);

    audit_user_coupon uc;
    j = cJSON_Parse("{\"id\":7,\"couponId\":3,\"userId\":1,\"discountType\":\"PERCENT\","
                    "\"discountValue\":10,\"isUsed\":true,\"usedOrderId\":12}");
    ck_assert(audit_parse_user_coupon(j, &uc, err, sizeof err));
    ck_assert(uc.is_used);
    ck_assert_int_eq(uc.used_order_id, 12);
    ck_assert_int_eq(uc.discount_type, LOAD_DISCOUNT_PERCENT);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"id\":7,\"couponId\":3,\"userId\":1,\"discountType\":\"PERCENT\","
                    "\"discountValue\":10,\"isUsed\":1,\"usedOrderId\":12}");
    ck_assert(!audit_parse_user_coupon(j, &uc, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "isUsed"));
    cJSON_Delete(j);

    audit_user u;
    j = cJSON_Parse("{\"id\":1,\"name\":\"kim\",\"balance\":5}");
    ck_assert(!audit_parse_user(j, &u, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "initialBalance"));
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_index)
{
    audit_index ix = {0};
    ck_assert(audit_index_init(&ix, 1000));
    for (int64_t k = 1; k <= 1000; k++)
        ck_assert(audit_index_put(&ix, k * 7919, (size_t)k));
    ck_assert(!audit_index_put(&ix, 7919, 5)); /* present: the first stays */
    ck_assert(!audit_index_put(&ix, 0, 5));
    ck_assert_uint_eq(audit_index_get(&ix, 7919), 1);
    ck_assert_uint_eq(audit_index_get(&ix, 1000 * 7919), 1000);
    ck_assert_uint_eq(audit_index_get(&ix, 3), SIZE_MAX);
    ck_assert_uint_eq(audit_index_get(&ix, -1), SIZE_MAX);
    audit_index_release(&ix);
}
END_TEST

Suite *load_audit_suite(void)
{
    Suite *s = suite_create("load_audit");
    TCase *tc = tcase_create("invariants");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_consistent_shop_passes);
    tcase_add_test(tc, test_other_users_are_ignored);
    tcase_add_test(tc, test_pending_order);
    tcase_add_test(tc, test_cancelling_counts_as_holding);
    tcase_add_test(tc, test_stock_leak);
    tcase_add_test(tc, test_negative_stock);
    tcase_add_test(tc, test_wrong_discount);
    tcase_add_test(tc, test_percent_discount_rule);
    tcase_add_test(tc, test_paid_without_payment);
    tcase_add_test(tc, test_two_completed_payments);
    tcase_add_test(tc, test_double_debit);
    tcase_add_test(tc, test_refund_without_credit);
    tcase_add_test(tc, test_ledger_chain_break);
    tcase_add_test(tc, test_debit_for_failed_payment);
    tcase_add_test(tc, test_void_of_a_completed_payment);
    tcase_add_test(tc, test_charge_not_in_ledger);
    tcase_add_test(tc, test_coupon_used_without_order);
    tcase_add_test(tc, test_coupon_held_but_unused);
    tcase_add_test(tc, test_coupon_held_twice);
    tcase_add_test(tc, test_coupon_oversold_and_duplicate);
    tcase_add_test(tc, test_data_platform_duplicate_and_unpaid);
    tcase_add_test(tc, test_acknowledged_order_lost);
    tcase_add_test(tc, test_declined_payment_but_order_paid);
    tcase_add_test(tc, test_missing_fixture);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("parsers");
    tcase_add_test(tp, test_parse_shapes);
    tcase_add_test(tp, test_index);
    suite_add_tcase(s, tp);
    return s;
}
